"""MicroK8s: kubelite reads one kubelet flag per line from ${SNAP_DATA}/args/kubelet."""

from __future__ import annotations

from nodecred.host.flags import BIN_DIR_FLAG, CONFIG_FLAG, args_file_words, flag_values
from nodecred.host.profiles.base import FlagSite, MergeSite, Target, Unsupported
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot

ARGS = "/var/snap/microk8s/current/args/kubelet"
UNIT = "snap.microk8s.daemon-kubelite.service"


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported | None:
    raw = snap.read(ARGS)
    if raw is None:
        return None
    words = args_file_words(raw.decode("utf-8", errors="replace"))
    configs = flag_values(words, CONFIG_FLAG)
    if configs and configs[-1] != settings.paths.config:
        bin_dirs = flag_values(words, BIN_DIR_FLAG)
        if not bin_dirs:
            return Unsupported(f"{ARGS} has {CONFIG_FLAG} but no {BIN_DIR_FLAG}")
        site = MergeSite(configs[-1], bin_dirs[-1], config_is_dir=snap.is_dir(configs[-1]))
        return Target("microk8s", UNIT, site, embedded_kubelet=True)
    return Target("microk8s", UNIT, FlagSite(ARGS, "args-file"), embedded_kubelet=True)
