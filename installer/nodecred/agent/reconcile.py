"""The per-node reconciler: plan -> (a restart?) take a slot -> apply, restart, verify -> report.

One pass is `reconcile_once`; `run` repeats it every driftInterval and backs off on API errors.
A plan that was rolled back is not tried again until it changes (settings, host files): a
kubelet that rejects a change must not be restarted every few minutes. Nothing is written to
the API when nothing changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nodecred import __version__
from nodecred.agent.config import AgentConfig
from nodecred.agent.kube import Kube, KubeError, NodeView
from nodecred.agent.metrics import Metrics
from nodecred.agent.probe import Runner, probe
from nodecred.agent.report import WAITING_LABEL, Report, event_for, node_patch
from nodecred.agent.slots import RestartSlots
from nodecred.host.install import (
    FAILED,
    INSTALLED,
    RESTART_PENDING,
    ROLLED_BACK,
    UNINSTALLED,
    UNSUPPORTED,
    HostRun,
    Outcome,
)
from nodecred.host.plan import Binary, Plan, PlanError, WriteFile
from nodecred.host.profiles.base import Unsupported
from nodecred.host.snapshot import SnapshotError
from nodecred.host.state import StateError
from nodecred.kubelet.load import LoadError, read_path

log = logging.getLogger("nodecred.agent")
MAX_BACKOFF = 300.0
SUCCESSORS_PAGE = 50  # waiting nodes read per handoff; the longest waiter among them gets the slot


def plan_fingerprint(plan: Plan) -> str:
    hasher = hashlib.sha256(plan.action.encode())
    for op in plan.ops:
        hasher.update(repr(op).encode())
        if isinstance(op, WriteFile):
            hasher.update(op.data)
    return hasher.hexdigest()


@dataclass
class Agent:
    config: AgentConfig
    kube: Kube
    host: HostRun
    binary: Binary | None
    prober: Runner | None = None
    metrics: Metrics = field(default_factory=Metrics)
    clock: Callable[[], float] = time.time
    stop: threading.Event = field(default_factory=threading.Event)
    node: NodeView | None = None
    state: str | None = None
    failed_plan: str = ""
    last_probe: float = 0.0
    events: int = 0

    _slots: RestartSlots | None = None
    _node_count: tuple[float, int] = (0.0, 0)

    @property
    def slots(self) -> RestartSlots:
        """One per agent: it remembers the resourceVersion of each write to the slot it holds."""
        if self._slots is None:
            config = self.config
            self._slots = RestartSlots(
                self.kube, config.namespace, config.release, config.node_name, config.lease_duration
            )
        return self._slots

    def node_count(self) -> int:
        """Nodes in the cluster, listed at most once an hour (a LIST of every Node is not cheap)."""
        listed, count = self._node_count
        if not count or self.clock() - listed > 3600:
            count = self.kube.node_count()
            self._node_count = (self.clock(), count)
        return count

    # -- reporting --------------------------------------------------------------------------

    def report(self, report: Report) -> None:
        if self.node is None:
            self.node = self.kube.node(self.config.node_name)
        previous = self.node.annotations.get(self.config.prefix + "state")
        now = self.clock()
        patch = node_patch(self.config.prefix, self.node.annotations, self.node.labels, report, now)
        if patch:
            self.kube.patch_node(self.config.node_name, patch)
            for mine, sent in (
                (self.node.annotations, patch["metadata"].get("annotations", {})),
                (self.node.labels, patch["metadata"].get("labels", {})),
            ):
                for key, value in sent.items():  # what the merge patch did: None removes
                    if value is None:
                        mine.pop(key, None)
                    else:
                        mine[key] = value
        event = event_for(self.config.node_name, previous, report, now, self.events)
        if event:
            self.events += 1
            try:
                self.kube.create_event(event)
            except KubeError as err:  # an Event is a courtesy; the annotations are the record
                log.warning("event not recorded: %s", err)
        self.state = report.state
        self.metrics.set_state(report.state)

    def _report_quietly(self, report: Report) -> None:
        """A report whose failure must not stop the step (the next report carries the changes)."""
        try:
            self.report(report)
        except KubeError as err:
            log.warning("node not updated: %s", err)

    def _keep_message(self, state: str, message: str) -> str:
        """The Node's message unless the state changes: a no-op pass must not rewrite it."""
        current = self.node.annotations if self.node else {}
        if current.get(self.config.prefix + "state") == state:
            return current.get(self.config.prefix + "message", message)
        return message

    def _provider_version(self) -> str | None:
        return f"{__version__}+{self.binary.digest[:12]}" if self.binary else None

    def _config_hash(self, plan: Plan) -> str | None:
        if not plan.config_path:
            return None
        try:
            return read_path(os.path.join(self.host.options.root, plan.config_path.lstrip("/"))).hash
        except LoadError:
            return None

    # -- one pass ---------------------------------------------------------------------------

    def mode(self) -> str:
        data = self.kube.configmap_data(self.config.namespace, self.config.mode_name) or {}
        return "uninstall" if data.get("mode") == "uninstall" else "install"

    def reconcile_once(self) -> str:
        self.node = self.kube.node(self.config.node_name)
        action = self.mode()
        if self.host.restart_pending():
            # Files written by an earlier pass (or a killed agent) wait for their restart: only in a slot.
            outcome = self._restart_in_slot(action, "the kubelet")
            if outcome is None:
                return self.state or "Pending"
            self.metrics.count(outcome)
            self.report(Report(outcome.state, outcome.message, profile=outcome.profile or None))
            if outcome.state in (ROLLED_BACK, FAILED):
                return outcome.state
        if action == "uninstall" and self.node.annotations.get(self.config.prefix + "state") == UNINSTALLED:
            self.state = UNINSTALLED
            return UNINSTALLED  # idle until the release is gone
        try:
            planned, _ = self.host.plan(action, self.binary)
        except (SnapshotError, PlanError, StateError) as err:
            self.report(Report(FAILED, str(err)))
            return FAILED
        if isinstance(planned, Unsupported):
            self.report(Report(UNSUPPORTED, planned.reason))
            return UNSUPPORTED
        done = INSTALLED if action == "install" else UNINSTALLED
        if planned.empty:
            self.report(
                Report(
                    done,
                    self._keep_message(done, "nothing to change"),
                    profile=planned.profile or None,
                    config_hash=self._config_hash(planned) if action == "install" else None,
                    provider_version=self._provider_version() if action == "install" else None,
                    probe=self._probe(force=False) if action == "install" else None,
                )
            )
            return done
        fingerprint = plan_fingerprint(planned)
        if fingerprint == self.failed_plan:
            return self.state or ROLLED_BACK  # the same change failed before: wait for a different one
        outcome = self._apply(action, planned)
        if outcome is None:  # SIGTERM while waiting for a slot: nothing was changed, nothing to say
            return self.state or "Pending"
        self.metrics.count(outcome)
        if outcome.state in (ROLLED_BACK, FAILED):
            self.failed_plan = fingerprint
        else:
            self.failed_plan = ""
        installed = outcome.state == INSTALLED
        self.report(
            Report(
                outcome.state,
                outcome.message,
                profile=outcome.profile or planned.profile or None,
                config_hash=self._config_hash(planned) if installed else None,
                provider_version=self._provider_version() if installed else None,
                probe=self._probe(force=True) if installed else None,
            )
        )
        return outcome.state

    def _apply(self, action: str, planned: Plan) -> Outcome | None:
        """Write the files first (journaled), then restart inside a slot: the slot is held only
        for the restart and its verification."""
        busy = "Installing" if action == "install" else "Uninstalling"
        self.report(Report(busy, f"{len(planned.ops)} change(s) planned", profile=planned.profile or None))
        if not (planned.restart and self.host.restarts):
            return self.host.converge(action, self.binary)
        written = self.host.converge(action, self.binary, defer_restart=True)
        if written.state != RESTART_PENDING:
            return written
        return self._restart_in_slot(action, planned.unit)

    def _restart_in_slot(self, action: str, unit: str) -> Outcome | None:
        slot = self._wait_for_slot()  # reports WaitingForSlot only when it has to wait
        if slot is None:
            return None
        with self.slots.holding(slot, self._successors) as lost:
            if lost.is_set():
                return Outcome(FAILED, f"lost restart slot {slot} before restarting")
            state = "Restarting" if action == "install" else "Uninstalling"
            # Said while the restart runs: the Lease is what guards the restart, and every API round
            # trip before it idles a slot of the whole cluster.
            saying = threading.Thread(
                target=self._report_quietly, args=(Report(state, f"holding {slot}: restarting {unit}"),)
            )
            saying.start()
            try:  # the journal's remaining steps: restart, verify
                return self.host.converge(action, self.binary, resume_only=True)
            finally:
                saying.join()

    def _wait_for_slot(self) -> str | None:
        """A restart slot: at once when one is free, else after WaitingForSlot until a holder hands
        one over (or one expires); None when the agent is stopping."""
        slots = self.config.slots(self.node_count() if self.config.slots_depend_on_nodes else 1)
        return self.slots.acquire(
            slots,
            self.stop,
            lambda: self.report(Report("WaitingForSlot", f"all {slots} restart slot(s) are held")),
        )

    def _successors(self) -> list[str]:
        """Nodes waiting for a slot, longest first: whom a freed slot goes to. One page of them by
        their label (a LIST of every Node per restart would be heavy in a large cluster), ordered
        by how long each has waited."""
        prefix = self.config.prefix
        try:
            nodes = self.kube.list_nodes(f"{prefix}{WAITING_LABEL}=true", limit=SUCCESSORS_PAGE)
        except KubeError:
            return []  # the slot is freed instead; a waiter's watch sees it
        waiting = [
            n
            for n in nodes
            if n.annotations.get(prefix + "state") == "WaitingForSlot" and n.name != self.config.node_name
        ]
        waiting.sort(key=lambda n: (n.annotations.get(prefix + "last-transition", ""), n.name))
        return [n.name for n in waiting]

    def shutdown(self) -> None:
        """SIGTERM: stop after the step in progress; a wait for a slot ends now."""
        self.stop.set()
        self.kube.abort_watches()

    def _probe(self, force: bool) -> str | None:
        if self.prober is None:
            return None
        now = self.clock()
        if not force and now - self.last_probe < self.config.probe_interval:
            return None  # keep what the Node says
        self.last_probe = now
        result = probe(self.host.settings, self.prober)
        self.metrics.set_probe(result)
        return result

    # -- forever ----------------------------------------------------------------------------

    def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            try:
                self.reconcile_once()
                self.metrics.reconciled(self.clock())
                backoff = 1.0
                wait = self.config.drift_interval
            except KubeError as err:
                log.warning("API: %s; retrying in %.0f s", err, backoff)
                wait, backoff = backoff * random.uniform(0.8, 1.2), min(MAX_BACKOFF, backoff * 2)  # noqa: S311
            self.stop.wait(wait)
