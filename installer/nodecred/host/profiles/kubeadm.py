"""kubeadm nodes (Debian/Ubuntu and RHEL families): flags in KUBELET_EXTRA_ARGS.

The kubeadm drop-in 10-kubeadm.conf reads `-/var/lib/kubelet/kubeadm-flags.env` (kubeadm
rewrites it on init, join and upgrade: never ours) and then `-/etc/default/kubelet` (DEB) or
`-/etc/sysconfig/kubelet` (RPM) for KUBELET_EXTRA_ARGS, which is last on ExecStart.
"""

from __future__ import annotations

from nodecred.host.profiles.base import FlagSite, Target, Unsupported
from nodecred.host.profiles.common import argv, existing_site, service
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot

USER_FILES = {"/etc/default/kubelet": "kubeadm-deb", "/etc/sysconfig/kubelet": "kubeadm-rpm"}


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported | None:
    svc = service(snap, "kubelet.service")
    if svc is None or not any(p.endswith("/10-kubeadm.conf") for p in svc.dropins):
        return None
    files = [ref.path for ref in svc.environment_files if ref.path in USER_FILES]
    if not files:
        return Unsupported("kubeadm drop-in reads neither /etc/default/kubelet nor /etc/sysconfig/kubelet")
    if "KUBELET_EXTRA_ARGS" not in svc.exec_start:
        return Unsupported(f"ExecStart in {svc.exec_start_source} does not pass $KUBELET_EXTRA_ARGS")
    words = argv(snap, svc)
    if isinstance(words, Unsupported):
        return words
    profile = USER_FILES[files[-1]]
    existing = existing_site(snap, words, settings)
    if existing is not None:
        return existing if isinstance(existing, Unsupported) else Target(profile, "kubelet.service", existing)
    return Target(profile, "kubelet.service", FlagSite(files[-1], "env-var", "KUBELET_EXTRA_ARGS"))
