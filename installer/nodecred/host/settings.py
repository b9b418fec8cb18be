"""Agent settings that shape the host install: paths, the provider entry, restart policy.

Mounted from the chart's ConfigMap; `nodecred host ... --settings FILE` reads the same file.
Every field has DESIGN.md's default, so an empty file (or none) is a complete install.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nodecred.errors import ConfigError
from nodecred.kubelet import goduration
from nodecred.kubelet.documents import DocumentError, read_document
from nodecred.kubelet.model import CredentialProvider
from nodecred.provider import settings as provider_settings

API_VERSION = "nodecred.io/v1alpha1"
KIND = "AgentSettings"
PROVIDER_NAME = "nodecred-provider"
EXEC_API_VERSION = "credentialprovider.kubelet.k8s.io/v1"
# DESIGN.md: one catch-all entry (`*`, `*.*`, ... up to six labels); the provider decides per image.
CATCH_ALL = tuple(".".join(["*"] * n) for n in range(1, 7))


@dataclass(frozen=True)
class HostPaths:
    config: str = "/etc/nodecred/credential-provider-config.yaml"
    bin_dir: str = "/opt/nodecred/bin"
    provider_settings: str = "/etc/nodecred/provider.yaml"
    provider_root: str = "/opt/nodecred"  # versions under it; /opt/nodecred/provider -> the current one
    state_dir: str = "/var/lib/nodecred"
    secrets: str = "/etc/nodecred/secrets"  # the chart's Secret keys, one root-only file each (0700/0600)
    lock: str = "/run/lock/nodecred.lock"


@dataclass(frozen=True)
class HostSettings:
    paths: HostPaths = field(default_factory=HostPaths)
    match_images: tuple[str, ...] = CATCH_ALL
    default_cache_duration: int = 5 * goduration.MINUTE
    provider_settings: dict[str, Any] = field(
        default_factory=lambda: {"apiVersion": API_VERSION, "kind": "ProviderSettings", "registries": []}
    )
    restart_timeout: float = 90.0
    allow_control_plane_restart: bool = False

    def provider(self) -> CredentialProvider:
        return CredentialProvider(
            name=PROVIDER_NAME,
            match_images=self.match_images,
            default_cache_duration=self.default_cache_duration,
            api_version=EXEC_API_VERSION,
            args=("--settings", self.paths.provider_settings),
        )


_PATH_KEYS = {
    "config": "config",
    "binDir": "bin_dir",
    "providerSettings": "provider_settings",
    "providerRoot": "provider_root",
    "stateDir": "state_dir",
    "secrets": "secrets",
    "lock": "lock",
}


def parse(raw: Any, source: str) -> HostSettings:
    if raw is None:
        return HostSettings()
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected an AgentSettings mapping")
    if raw.get("apiVersion", API_VERSION) != API_VERSION or raw.get("kind", KIND) != KIND:
        raise ConfigError(f"{source}: set apiVersion: {API_VERSION} and kind: {KIND}")
    known = {
        "apiVersion",
        "kind",
        "paths",
        "matchImages",
        "defaultCacheDuration",
        "provider",
        "restart",
        "agent",
    }
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: {key}: unknown field (known: {', '.join(sorted(known))})")
    paths = raw.get("paths") or {}
    if not isinstance(paths, dict):
        raise ConfigError(f"{source}: paths: expected a mapping")
    values: dict[str, str] = {}
    for key, value in paths.items():
        if key not in _PATH_KEYS:
            raise ConfigError(f"{source}: paths.{key}: unknown path (known: {', '.join(_PATH_KEYS)})")
        if not isinstance(value, str) or not value.startswith("/") or "\n" in value or " " in value:
            raise ConfigError(f"{source}: paths.{key}: give an absolute path without spaces")
        values[_PATH_KEYS[key]] = value.rstrip("/") or "/"
    explicit = raw.get("matchImages")
    duration = raw.get("defaultCacheDuration", "5m")
    try:
        cache = goduration.parse(duration) if isinstance(duration, str) else -1
    except goduration.DurationError:
        cache = -1
    if cache < 0:
        raise ConfigError(f"{source}: defaultCacheDuration: give a duration such as 5m")
    provider = raw.get("provider")
    if provider is None:
        provider = HostSettings().provider_settings
    if not isinstance(provider, dict):
        raise ConfigError(f"{source}: provider: expected the ProviderSettings mapping (see README)")
    _check_provider_settings(provider, source)
    if explicit is not None:
        match = provider_settings.image_patterns(explicit, f"{source}: matchImages")
    else:
        match = CATCH_ALL + _ported_patterns(provider)
    restart = raw.get("restart") or {}
    if not isinstance(restart, dict) or set(restart) - {"timeout", "allowControlPlaneRestart"}:
        raise ConfigError(f"{source}: restart: known keys are timeout and allowControlPlaneRestart")
    try:
        timeout = goduration.parse(str(restart.get("timeout", "90s"))) / goduration.SECOND
    except goduration.DurationError:
        timeout = 0
    if timeout <= 0:
        raise ConfigError(f"{source}: restart.timeout: give a positive duration such as 90s")
    allow = restart.get("allowControlPlaneRestart", False)
    if not isinstance(allow, bool):
        raise ConfigError(f"{source}: restart.allowControlPlaneRestart: give true or false")
    return HostSettings(
        paths=HostPaths(**values),
        match_images=match,
        default_cache_duration=cache,
        provider_settings=provider,
        restart_timeout=timeout,
        allow_control_plane_restart=allow,
    )


def _ported_patterns(provider: dict[str, Any]) -> tuple[str, ...]:
    """The registries' host:port patterns: the kubelet matches an image with a port only against a
    pattern with that port, so the catch-all alone would never send registry.internal:5000 to us."""
    out: dict[str, None] = {}
    for registry in provider.get("registries") or []:
        match = registry.get("match")
        for pattern in [match] if isinstance(match, str) else match or []:
            if ":" in pattern.split("/", 1)[0]:
                out[pattern] = None
    return tuple(out)


def _check_provider_settings(provider: dict[str, Any], source: str) -> None:
    """The provider reads this file on every pull: refuse it here, not at the first pull."""
    try:
        provider_settings.parse(json.dumps(provider).encode(), f"{source}: provider")
    except ConfigError as err:
        raise ConfigError(str(err)) from None


def load(data: bytes | None, source: str) -> HostSettings:
    if data is None:
        return HostSettings()
    try:
        document = read_document(data)
    except DocumentError as err:
        raise ConfigError(f"{source}: {err}") from None
    if document.duplicates:
        raise ConfigError(f"{source}: {document.duplicates[0]}")
    return parse(document.data, source)


def with_provider(data: bytes | None, provider: bytes, source: str) -> bytes:
    """Agent settings DATA with the ProviderSettings document PROVIDER as their `provider:`."""
    documents = []
    for blob, where in ((data, "settings"), (provider, source)):
        try:
            documents.append(read_document(blob).data if blob is not None else None)
        except DocumentError as err:
            raise ConfigError(f"{where}: {err}") from None
    base, extra = documents
    if base is None:
        base = {"apiVersion": API_VERSION, "kind": KIND}
    if not isinstance(base, dict) or not isinstance(extra, dict):
        raise ConfigError(f"{source}: expected a ProviderSettings mapping (and agent settings as a mapping)")
    if "provider" in base:
        raise ConfigError(f"{source}: the settings already have provider:; give it in one place")
    return json.dumps({**base, "provider": extra}).encode()


def provider_settings_bytes(settings: HostSettings) -> bytes:
    """The provider's settings as the provider reads them fastest: JSON (README, "The provider")."""
    return json.dumps(settings.provider_settings, indent=2, sort_keys=True).encode() + b"\n"
