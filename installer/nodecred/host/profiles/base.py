"""What a profile tells the planner: where this node's kubelet takes provider flags or config."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FlagSite:
    """Where nodecred adds the two flags: an EnvironmentFile variable, or an args file."""

    path: str
    kind: str  # "env-var" or "args-file"
    var: str = ""  # for env-var


@dataclass(frozen=True)
class MergeSite:
    """The kubelet already has a provider config (or the distro has a built-in one): join it."""

    config: str  # a file to upsert into, or a directory (kubelet >= 1.34) to add our file to
    bin_dir: str
    config_is_dir: bool = False


@dataclass(frozen=True)
class Target:
    profile: str
    unit: str  # the systemd unit to restart
    site: FlagSite | MergeSite
    embedded_kubelet: bool = False  # k3s, RKE2, MicroK8s: no kubelet argv to check
    restart_blocked: str = ""  # why the unit must not be restarted without an opt-in
    notes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Unsupported:
    reason: str
