"""One host run: lock, finish any journal left behind, snapshot, plan, apply, restart, verify.

A failed apply or a kubelet that does not come back healthy with the expected flags is rolled
back from the journal, restarted and verified again; the outcome says which, and why.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

from nodecred.host import executor, snapshot
from nodecred.host import state as st
from nodecred.host.executor import ApplyError, Executor, Journal
from nodecred.host.plan import (
    DIGEST_MARKER,
    EXECUTABLE,
    Binary,
    Plan,
    PlanError,
    plan_install,
    plan_uninstall,
)
from nodecred.host.profiles.base import Unsupported
from nodecred.host.service import CommandError, Expectation, Systemd, healthz, proc_argv, verify
from nodecred.host.settings import PROVIDER_NAME, HostSettings
from nodecred.host.snapshot import Snapshot, SnapshotError

INSTALLED, UNINSTALLED, ROLLED_BACK, FAILED, UNSUPPORTED = (
    "Installed",
    "Uninstalled",
    "RolledBack",
    "Failed",
    "Unsupported",
)
RESTART_PENDING = "RestartPending"  # files written, journal kept: the restart waits for a slot
RESTARTED = "applied; kubelet restarted and verified"
EXIT = {INSTALLED: 0, UNINSTALLED: 0, ROLLED_BACK: 1, FAILED: 1, UNSUPPORTED: 3, RESTART_PENDING: 0}


@dataclass(frozen=True)
class Outcome:
    state: str
    message: str
    profile: str = ""
    restarted: bool = False
    plan: Plan | None = None

    @property
    def exit_code(self) -> int:
        return EXIT[self.state]


@dataclass(frozen=True)
class Options:
    root: str = "/"
    restart_mode: str = "systemd"  # or "none"
    nsenter: bool = True
    proc: str = "/proc"
    secrets_dir: str = ""  # the mounted Secret whose keys become files under paths.secrets ("" = none)


def binary_digest(source: str) -> str:
    """sha256 over the build's relative paths, link targets and file bytes."""
    hasher = hashlib.sha256()
    if os.path.isfile(source):
        with open(source, "rb") as handle:
            hasher.update(handle.read())
        return hasher.hexdigest()
    if not os.path.isfile(os.path.join(source, EXECUTABLE)):
        raise PlanError(f"--binary {source}: no {EXECUTABLE} in it; give the frozen build's directory")
    for folder, dirs, names in os.walk(source):
        dirs.sort()
        for name in sorted(names):
            full = os.path.join(folder, name)
            hasher.update(os.path.relpath(full, source).encode() + b"\0")
            if os.path.islink(full):
                hasher.update(os.readlink(full).encode())
            else:
                with open(full, "rb") as handle:
                    hasher.update(handle.read())
    return hasher.hexdigest()


def read_secrets(folder: str) -> dict[str, bytes]:
    """A mounted Secret's keys and bytes, read afresh each plan (the kubelet updates the volume).

    A Secret volume holds each key as a link into a timestamped `..data` directory; the
    dot-entries are the volume's own bookkeeping, not keys.
    """
    if not folder:
        return {}
    try:
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
        out = {}
        for name in names:
            full = os.path.join(folder, name)
            if os.path.isfile(full):
                with open(full, "rb") as handle:
                    out[name] = handle.read()
        return out
    except OSError as err:
        raise PlanError(
            f"--secrets {folder}: {err.strerror or err}; mount the chart's Secret there"
        ) from None


def read_snapshot(
    settings: HostSettings,
    options: Options,
    live_argv: list[str] | None,
    loaded_units: dict[str, bytes] | None = None,
) -> Snapshot:
    paths = settings.paths
    extra = [
        paths.config,
        paths.provider_settings,
        paths.secrets,
        paths.bin_dir,
        f"{paths.bin_dir}/{PROVIDER_NAME}",
        paths.provider_root,
        f"{paths.provider_root}/provider",
        f"{paths.state_dir}/{st.STATE_FILE}",
    ]
    # Listing our paths' ancestors tells the planner which directories nodecred would create.
    snap = snapshot.take(options.root, [*extra, *sorted(snapshot.ancestors(extra))], live_argv, loaded_units)
    more = [f"{paths.provider_root}/{n}/{DIGEST_MARKER}" for n in snap.listdir(paths.provider_root)]
    more += [f"{d}/{PROVIDER_NAME}" for d, names in snap.dirs.items() if PROVIDER_NAME in names]
    more += [f"{paths.secrets}/{n}" for n in snap.listdir(paths.secrets)]
    snapshot.add(snap, options.root, more)
    return snap


def _expectation(plan: Plan, old_pid: int) -> dict[str, Any]:
    return asdict(
        Expectation(
            plan.unit,
            old_pid,
            time.monotonic_ns() // 1000,
            plan.expected_flags,
            plan.forbidden_values,
            plan.embedded_kubelet,
        )
    )


class HostRun:
    def __init__(
        self,
        settings: HostSettings,
        options: Options,
        systemd: Systemd | None = None,
        health: Callable[[], bool] = healthz,
    ) -> None:
        self.settings = settings
        self.options = options
        self.systemd = systemd or Systemd(nsenter=options.nsenter)
        self.health = health

    @property
    def restarts(self) -> bool:
        return self.options.restart_mode == "systemd"

    def _live(self, unit: str) -> tuple[int, list[str] | None]:
        if not self.restarts:
            return 0, None
        try:
            pid = self.systemd.status(unit).main_pid
        except CommandError:
            return 0, None
        return pid, (proc_argv(pid, self.options.proc) if pid else None)

    def _restart_and_verify(self, journal: Journal, executor_: Executor) -> Outcome | None:
        """None when the kubelet came back as planned; else the rolled-back outcome."""
        context = journal.context or {}
        if not context.get("restart") or not self.restarts:
            return None
        saved = context["expect"]
        expect = Expectation(
            str(saved["unit"]),
            int(saved["old_pid"]),
            time.monotonic_ns() // 1000,  # every file is written by now: the restart comes after
            dict(saved["flags"]),
            tuple(saved["forbidden_values"]),
            bool(saved["embedded_kubelet"]),
        )
        try:
            self.systemd.restart(expect.unit)
            why = verify(self.systemd, expect, self.settings.restart_timeout, self.options.proc, self.health)
        except CommandError as err:
            why = str(err)
        if not why:
            return None
        logs = self.systemd.journal(expect.unit)
        executor_.rollback(journal)
        after = "the kubelet is back as it was"
        try:
            old_pid = self.systemd.status(expect.unit).main_pid
            back = Expectation(expect.unit, old_pid, time.monotonic_ns() // 1000, {}, (), True)
            self.systemd.restart(expect.unit)
            problem = verify(
                self.systemd, back, self.settings.restart_timeout, self.options.proc, self.health
            )
            if problem:
                after = f"after rolling back, {problem}"
        except CommandError as err:
            after = f"after rolling back, {err}"
        tail = " | ".join(line for line in logs.splitlines()[-20:] if line.strip())
        return Outcome(ROLLED_BACK, f"{why}; rolled back: {after}. kubelet log: {tail}", restarted=True)

    def resume(self, executor_: Executor) -> Outcome | bool:
        """Finish what a killed (or deferred) run left: roll forward an apply, or finish a rollback.
        An Outcome when that failed; else whether it restarted and verified the kubelet."""
        journal = executor_.pending()
        if journal is None:
            return False
        if journal.phase == executor.ROLLING_BACK:
            executor_.rollback(journal)
            if (journal.context or {}).get("restart") and self.restarts:
                # Killed mid-rollback: the kubelet may still run the change; restart it on the originals.
                unit = str((journal.context or {})["expect"]["unit"])
                try:
                    self.systemd.restart(unit)
                except CommandError as err:
                    return Outcome(FAILED, f"rolled back an interrupted change, but {err}")
            return False
        if journal.phase == executor.APPLYING:
            try:
                executor_.run(journal)
            except ApplyError as err:
                executor_.rollback(journal)
                return Outcome(FAILED, f"finishing an interrupted change failed: {err}; rolled back")
        rolled = self._restart_and_verify(journal, executor_)
        if rolled is not None:
            return rolled
        executor_.finish(journal)
        return bool((journal.context or {}).get("restart")) and self.restarts

    def restart_pending(self) -> bool:
        """A journal waits for its kubelet restart (a deferred one, or a killed run's)."""
        if not self.restarts:
            return False
        paths = self.settings.paths
        with Executor(self.options.root, paths.state_dir, paths.lock) as executor_:
            journal = executor_.pending()
        return journal is not None and bool((journal.context or {}).get("restart"))

    def converge(
        self, action: str, binary: Binary | None, defer_restart: bool = False, resume_only: bool = False
    ) -> Outcome:
        """Resume what is pending, then plan and apply. DEFER_RESTART: write the files and keep the
        journal, returning RestartPending; the next converge (inside a restart slot) restarts.
        RESUME_ONLY: finish the pending journal and stop (the slot is held no longer than that)."""
        paths = self.settings.paths
        try:
            with Executor(self.options.root, paths.state_dir, paths.lock) as executor_:
                restarted = False
                if not defer_restart:
                    resumed = self.resume(executor_)
                    if isinstance(resumed, Outcome):
                        return resumed
                    restarted = resumed
                    if resume_only:
                        done = INSTALLED if action == "install" else UNINSTALLED
                        message = RESTARTED if restarted else "nothing was pending"
                        return Outcome(done, message, restarted=restarted)
                elif executor_.pending() is not None:
                    return Outcome(RESTART_PENDING, "an earlier change waits for its restart")
                return self._converge(executor_, action, binary, defer_restart, restarted)
        except (SnapshotError, PlanError, st.StateError) as err:
            return Outcome(FAILED, str(err))
        except ApplyError as err:
            return Outcome(FAILED, str(err))
        except OSError as err:
            return Outcome(FAILED, f"{err.filename or 'host'}: {err.strerror or err}")

    def plan(self, action: str, binary: Binary | None) -> tuple[Plan | Unsupported, Snapshot]:
        _, live = self._live("kubelet.service")
        loaded: dict[str, bytes] = {}
        if self.restarts:  # a live host: ask its systemd which unit files it has loaded
            for unit in snapshot.SERVICES:
                loaded.update(self.systemd.cat(unit))
        snap = read_snapshot(self.settings, self.options, live, loaded)
        if action == "uninstall":
            return plan_uninstall(snap, self.settings), snap
        assert binary is not None
        return plan_install(snap, self.settings, binary, read_secrets(self.options.secrets_dir)), snap

    def _converge(
        self, executor_: Executor, action: str, binary: Binary | None, defer_restart: bool, restarted: bool
    ) -> Outcome:
        planned, _ = self.plan(action, binary)
        if isinstance(planned, Unsupported):
            return Outcome(UNSUPPORTED, planned.reason)
        done = INSTALLED if action == "install" else UNINSTALLED
        if planned.empty:
            if restarted:  # the restart of a change written earlier (deferred, or a killed run's)
                return Outcome(done, RESTARTED, planned.profile, True, planned)
            return Outcome(done, "nothing to do", planned.profile, plan=planned)
        old_pid, _ = self._live(planned.unit) if planned.restart else (0, None)
        context = {"restart": planned.restart, "expect": _expectation(planned, old_pid)}
        journal = executor_.begin(list(planned.ops), context)
        try:
            executor_.run(journal)
        except ApplyError as err:
            executor_.rollback(journal)
            return Outcome(FAILED, f"{err}; every change was rolled back", planned.profile, plan=planned)
        if defer_restart and planned.restart and self.restarts:
            return Outcome(
                RESTART_PENDING, "files written; the kubelet restart waits for a slot", planned.profile
            )
        rolled = self._restart_and_verify(journal, executor_)
        if rolled is not None:
            return Outcome(rolled.state, rolled.message, planned.profile, True, planned)
        executor_.finish(journal)
        executor.cleanup(self.options.root, planned.cleanup)
        message = "applied"
        if planned.restart:
            message = (
                "applied; kubelet restarted and verified" if self.restarts else "applied; restart pending"
            )
        return Outcome(done, message, planned.profile, planned.restart and self.restarts, planned)
