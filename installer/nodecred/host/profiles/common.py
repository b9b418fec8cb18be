"""Helpers the profiles share: the loaded service, its command line, an existing provider config."""

from __future__ import annotations

from nodecred.host import units
from nodecred.host.flags import BIN_DIR_FLAG, CONFIG_FLAG, flag_values
from nodecred.host.profiles.base import MergeSite, Unsupported
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot


def service(snap: Snapshot, name: str) -> units.Service | None:
    return units.load_service(name, snap.read, snap.listdir)


def argv(snap: Snapshot, svc: units.Service) -> list[str] | Unsupported:
    try:
        return units.effective_argv(svc, snap.read)
    except units.UnitError as err:
        return Unsupported(str(err))


def existing_site(snap: Snapshot, words: list[str], settings: HostSettings) -> MergeSite | Unsupported | None:
    """A provider config the kubelet already loads, unless it is nodecred's own."""
    configs = flag_values(words, CONFIG_FLAG)
    if not configs or configs[-1] == settings.paths.config:
        return None
    bin_dirs = flag_values(words, BIN_DIR_FLAG)
    if not bin_dirs:
        return Unsupported(f"the kubelet has {CONFIG_FLAG} but no {BIN_DIR_FLAG}; it cannot start so")
    config = configs[-1]
    if not snap.exists(config):
        return Unsupported(f"the kubelet's provider config {config} does not exist; fix the node first")
    return MergeSite(config, bin_dirs[-1], config_is_dir=snap.is_dir(config))
