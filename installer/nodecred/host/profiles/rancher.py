"""k3s and RKE2: their built-in provider paths, used by the embedded kubelet only when both exist.

The agent flags default to /var/lib/rancher/credentialprovider/{bin,config.yaml}; a node's
/etc/rancher/<k3s|rke2>/config.yaml may name others. Restarting an agent restarts its kubelet
and pods keep running; restarting a server (k3s, rke2-server) restarts the control plane, so
only with restart.allowControlPlaneRestart.
"""

from __future__ import annotations

import yaml

from nodecred.host.profiles.base import MergeSite, Target, Unsupported
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot
from nodecred.host.units import UNIT_DIRS

DEFAULT_CONFIG = "/var/lib/rancher/credentialprovider/config.yaml"
DEFAULT_BIN_DIR = "/var/lib/rancher/credentialprovider/bin"
UNITS = (  # (unit, profile, distribution config, server?)
    ("k3s-agent.service", "k3s-agent", "/etc/rancher/k3s/config.yaml", False),
    ("rke2-agent.service", "rke2-agent", "/etc/rancher/rke2/config.yaml", False),
    ("k3s.service", "k3s-server", "/etc/rancher/k3s/config.yaml", True),
    ("rke2-server.service", "rke2-server", "/etc/rancher/rke2/config.yaml", True),
)


def _paths(snap: Snapshot, distro_config: str) -> tuple[str, str] | Unsupported:
    raw = snap.read(distro_config)
    data: dict[str, object] = {}
    if raw is not None:
        try:
            data = yaml.safe_load(raw) or {}
        except yaml.YAMLError as err:
            return Unsupported(f"{distro_config} is not valid YAML: {str(err).splitlines()[0]}")
        if not isinstance(data, dict):
            return Unsupported(f"{distro_config} is not a mapping")
    config = data.get("image-credential-provider-config", DEFAULT_CONFIG)
    bin_dir = data.get("image-credential-provider-bin-dir", DEFAULT_BIN_DIR)
    if not isinstance(config, str) or not isinstance(bin_dir, str):
        return Unsupported(f"{distro_config}: image-credential-provider-* must be strings")
    return config, bin_dir


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported | None:
    for unit, profile, distro_config, server in UNITS:
        if not any(snap.read(f"{d}/{unit}") is not None for d in UNIT_DIRS):
            continue
        paths = _paths(snap, distro_config)
        if isinstance(paths, Unsupported):
            return paths
        config, bin_dir = paths
        if snap.is_dir(config):
            return Unsupported(f"{config} is a directory; k3s and RKE2 pass only a file to the kubelet")
        blocked = ""
        if server and not settings.allow_control_plane_restart:
            blocked = (
                f"restarting {unit} restarts this server's control plane; "
                "set restart.allowControlPlaneRestart to allow it"
            )
        site = MergeSite(config, bin_dir)
        return Target(profile, unit, site, embedded_kubelet=True, restart_blocked=blocked)
    return None
