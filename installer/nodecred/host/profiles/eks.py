"""EKS nodes: the kubelet already runs with /etc/eks/image-credential-provider; join that config.

AL2: the unit hard-codes both flags. AL2023: nodeadm writes them into NODEADM_KUBELET_ARGS in
/etc/eks/kubelet/environment, and rewrites config.json at every `nodeadm init` (each boot),
which removes our entry: the agent's drift check puts it back.
"""

from __future__ import annotations

from nodecred.host.profiles.base import MergeSite, Target, Unsupported
from nodecred.host.profiles.common import argv, existing_site, service
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot

EKS_DIR = "/etc/eks/image-credential-provider"
NODEADM_ENV = "/etc/eks/kubelet/environment"
NODEADM_NOTE = (
    "nodeadm init rewrites /etc/eks/image-credential-provider/config.json at every boot; "
    "the agent's drift check restores the nodecred entry (and restarts the kubelet) after it"
)


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported | None:
    svc = service(snap, "kubelet.service")
    if svc is None:
        return None
    al2023 = any(ref.path == NODEADM_ENV for ref in svc.environment_files)
    al2 = EKS_DIR in svc.exec_start
    if not (al2023 or al2):
        return None
    words = argv(snap, svc)
    if isinstance(words, Unsupported):
        return words
    site = existing_site(snap, words, settings)
    if site is None:
        return Unsupported("an EKS kubelet without --image-credential-provider-config: unknown EKS layout")
    if isinstance(site, Unsupported):
        return site
    assert isinstance(site, MergeSite)
    if al2023:
        return Target("eks-al2023", "kubelet.service", site, notes=(NODEADM_NOTE,))
    return Target("eks-al2", "kubelet.service", site)
