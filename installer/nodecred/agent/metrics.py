"""Prometheus metrics of one agent, in a registry of its own (tests run many agents in a process)."""

from __future__ import annotations

import json

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from nodecred.agent.report import STATES


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.state = Gauge(
            "nodecred_state", "1 for the node's current state", ["state"], registry=self.registry
        )
        self.restarts = Counter("nodecred_kubelet_restarts", "kubelet restarts made", registry=self.registry)
        self.rollbacks = Counter("nodecred_rollbacks", "changes rolled back", registry=self.registry)
        self.probe = Gauge(
            "nodecred_probe_ok", "1 when the registry's probe passed", ["registry"], registry=self.registry
        )
        self.last = Gauge(
            "nodecred_last_reconcile_timestamp_seconds", "end of the last full pass", registry=self.registry
        )
        self.current = ""

    def set_state(self, state: str) -> None:
        self.current = state
        for name in STATES:
            self.state.labels(state=name).set(1 if name == state else 0)

    def count(self, outcome: object) -> None:
        if getattr(outcome, "restarted", False):
            self.restarts.inc()
        if getattr(outcome, "state", "") == "RolledBack":
            self.rollbacks.inc()

    def set_probe(self, result: str) -> None:
        for registry, verdict in (json.loads(result) if result else {}).items():
            self.probe.labels(registry=registry).set(1 if verdict == "ok" else 0)

    def reconciled(self, now: float) -> None:
        self.last.set(now)

    def render(self) -> bytes:
        return bytes(generate_latest(self.registry))
