"""Any other systemd kubelet: a $VAR on ExecStart that an EnvironmentFile of the unit sets.

Only a variable that provably reaches ExecStart is used: it must be a word of its own on the
command line (so systemd splits it into arguments), and the file chosen must be the last of
the unit's EnvironmentFiles that assigns it (later files win). The planner then recomputes the
command line from the edited files and refuses the plan unless each flag appears once.
"""

from __future__ import annotations

from nodecred.host import units
from nodecred.host.profiles.base import FlagSite, Target, Unsupported
from nodecred.host.profiles.common import argv, existing_site, service
from nodecred.host.settings import HostSettings
from nodecred.host.snapshot import Snapshot


def _site(snap: Snapshot, svc: units.Service) -> FlagSite | None:
    variables = units.variables_in(svc.exec_start)
    for var in reversed(variables):  # the later on the command line, the higher its flags' priority
        if var in svc.environment:
            continue  # set by Environment= in a unit file: not ours to edit
        owners = []
        for ref in svc.environment_files:
            raw = snap.read(ref.path)
            if raw is not None and var in units.parse_env_file(raw.decode("utf-8", errors="replace")):
                owners.append(ref.path)
        if owners:
            return FlagSite(owners[-1], "env-var", var)
    return None


def detect(snap: Snapshot, settings: HostSettings) -> Target | Unsupported | None:
    svc = service(snap, "kubelet.service")
    if svc is None:
        return None
    words = argv(snap, svc)
    if isinstance(words, Unsupported):
        return words
    existing = existing_site(snap, words, settings)
    if existing is not None:
        return (
            existing if isinstance(existing, Unsupported) else Target("systemd", "kubelet.service", existing)
        )
    site = _site(snap, svc)
    if site is None:
        return Unsupported(
            f"kubelet.service ({svc.exec_start_source}) passes no $VARIABLE from an EnvironmentFile "
            "on ExecStart; add e.g. EnvironmentFile=-/etc/default/kubelet and $KUBELET_EXTRA_ARGS"
        )
    return Target("systemd", "kubelet.service", site)
