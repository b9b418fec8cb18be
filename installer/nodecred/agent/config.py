"""The agent's own settings: the `agent:` block of the AgentSettings file, and the pod's environment.

The host part of the same file (paths, matchImages, provider settings, restart) is
nodecred.host.settings; this module adds only what the reconciler needs.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from nodecred.errors import ConfigError
from nodecred.host import settings as host_settings
from nodecred.kubelet import goduration
from nodecred.kubelet.documents import DocumentError, read_document

_PREFIX = re.compile(r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)/$")


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    namespace: str
    release: str = "nodecred"
    prefix: str = "nodecred.io/"
    drift_interval: float = 300.0
    probe_interval: float = 1800.0
    max_concurrent_restarts: str = ""  # "" = 1 per 10 nodes (at least 1); "3"; "25%"
    lease_duration: float = 60.0
    health_port: int = 8080
    mode_configmap: str = ""  # default: <release>-mode

    @property
    def mode_name(self) -> str:
        return self.mode_configmap or f"{self.release}-mode"

    @property
    def slots_depend_on_nodes(self) -> bool:
        """A percentage (or the default) needs the node count; a count does not."""
        return not self.max_concurrent_restarts or self.max_concurrent_restarts.endswith("%")

    def slots(self, nodes: int) -> int:
        """How many kubelets may restart at once in a cluster of NODES."""
        value = self.max_concurrent_restarts
        if not value:
            return max(1, nodes // 10)
        if value.endswith("%"):
            return max(1, math.floor(nodes * int(value[:-1]) / 100))
        return max(1, int(value))


def _seconds(value: Any, where: str, default: str) -> float:
    try:
        parsed = goduration.parse(str(value if value is not None else default))
    except goduration.DurationError:
        parsed = 0
    if parsed <= 0:
        raise ConfigError(f"agent.{where}: give a positive duration such as {default}")
    return parsed / goduration.SECOND


def parse(raw: Any, env: dict[str, str], source: str) -> AgentConfig:
    node = env.get("NODE_NAME", "")
    if not node:
        raise ConfigError(
            "NODE_NAME is not set: give the pod env NODE_NAME from fieldRef spec.nodeName (the chart does)"
        )
    namespace = env.get("POD_NAMESPACE", "")
    if not namespace:
        raise ConfigError(
            "POD_NAMESPACE is not set: give it from fieldRef metadata.namespace (the chart does)"
        )
    block = (raw or {}).get("agent") or {}
    if not isinstance(block, dict):
        raise ConfigError(f"{source}: agent: expected a mapping")
    known = {
        "release",
        "annotationPrefix",
        "driftInterval",
        "probeInterval",
        "maxConcurrentRestarts",
        "leaseDuration",
        "healthPort",
        "modeConfigMap",
    }
    for key in block:
        if key not in known:
            raise ConfigError(f"{source}: agent.{key}: unknown field (known: {', '.join(sorted(known))})")
    prefix = str(block.get("annotationPrefix", "nodecred.io/"))
    if not _PREFIX.match(prefix):
        raise ConfigError(
            f"{source}: agent.annotationPrefix: {prefix!r}; give a DNS name and a slash, e.g. nodecred.io/"
        )
    slots = str(block.get("maxConcurrentRestarts", ""))
    valid = not slots or (
        re.fullmatch(r"[1-9][0-9]*%?", slots) and not (slots.endswith("%") and int(slots[:-1]) > 100)
    )
    if not valid:
        raise ConfigError(
            f"{source}: agent.maxConcurrentRestarts: {slots!r}; give a count (3) or a percentage (10%)"
        )
    port = block.get("healthPort", 8080)
    if not isinstance(port, int) or not 0 <= port < 65536:
        raise ConfigError(f"{source}: agent.healthPort: give a port number")
    return AgentConfig(
        node_name=node,
        namespace=namespace,
        release=str(block.get("release", "nodecred")),
        prefix=prefix,
        drift_interval=_seconds(block.get("driftInterval"), "driftInterval", "5m"),
        probe_interval=_seconds(block.get("probeInterval"), "probeInterval", "30m"),
        max_concurrent_restarts=slots,
        lease_duration=_seconds(block.get("leaseDuration"), "leaseDuration", "60s"),
        health_port=port,
        mode_configmap=str(block.get("modeConfigMap", "")),
    )


def load(
    data: bytes | None, env: dict[str, str], source: str
) -> tuple[host_settings.HostSettings, AgentConfig]:
    raw: Any = None
    if data is not None:
        try:
            raw = read_document(data).data
        except DocumentError as err:
            raise ConfigError(f"{source}: {err}") from None
    return host_settings.load(data, source), parse(raw, env, source)
