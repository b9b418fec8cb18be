"""Distribution profiles, most specific first; the first that recognises the node decides."""

from __future__ import annotations

from nodecred.host.profiles import eks, generic, kubeadm, microk8s, rancher
from nodecred.host.profiles.base import FlagSite, MergeSite, Target, Unsupported
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot

DETECTORS = (microk8s.detect, rancher.detect, eks.detect, kubeadm.detect, generic.detect)


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported:
    for detector in DETECTORS:
        found = detector(snap, settings)
        if found is not None:
            return found
    return Unsupported(
        "no kubelet found: none of kubelet.service, k3s, RKE2 or MicroK8s is installed on this node"
    )


__all__ = ["FlagSite", "MergeSite", "Target", "Unsupported", "detect"]
