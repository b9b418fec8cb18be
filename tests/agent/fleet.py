"""A fleet of simulated nodes: real host trees and real agents (threads) against one emulator, with
a simulated systemd whose restart takes a set time. Shared by the fleet test and bench/fleet.py."""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import urllib3
from kubernetes.client import ApiClient

from nodecred.agent.config import AgentConfig
from nodecred.agent.kube import Kube, api_client
from nodecred.agent.reconcile import Agent
from nodecred.agent.slots import RestartSlots
from nodecred.host import units
from nodecred.host.install import HostRun, Options, binary_digest
from nodecred.host.plan import Binary
from nodecred.host.service import UnitStatus
from nodecred.host.settings import HostSettings
from tests.agent.emulator import RemoteCluster
from tests.host.fixtures import build, fake_provider_build

NAMESPACE = "nodecred-system"


@dataclass
class Gauge:
    """How many simulated kubelets are restarting at once, and the most ever seen."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    now: int = 0
    most: int = 0
    restarts: int = 0
    # (monotonic start, end) of every simulated restart: where a fleet's time went.
    spans: list[tuple[float, float]] = field(default_factory=list)

    def enter(self) -> None:
        with self.lock:
            self.now += 1
            self.restarts += 1
            self.most = max(self.most, self.now)

    def leave(self, began: float) -> None:
        with self.lock:
            self.now -= 1
            self.spans.append((began, time.monotonic()))


class SimulatedSystemd:
    """systemd for one simulated node: a restart takes DURATION seconds, then a new main PID runs
    the command line the node's unit files give (written to the node's fake /proc)."""

    def __init__(self, root: Path, proc: Path, duration: float, gauge: Gauge) -> None:
        self.root, self.proc, self.duration, self.gauge = root, proc, duration, gauge
        self.pid = 100
        self.active_us = time.monotonic_ns() // 1000
        self._write_cmdline()

    def _read(self, path: str) -> bytes | None:
        full = self.root / path.lstrip("/")
        return full.read_bytes() if full.is_file() else None

    def _listdir(self, path: str) -> list[str]:
        full = self.root / path.lstrip("/")
        return sorted(os.listdir(full)) if full.is_dir() else []

    def _write_cmdline(self) -> None:
        service = units.load_service("kubelet.service", self._read, self._listdir)
        assert service is not None
        argv = units.effective_argv(service, self._read)
        (self.proc / str(self.pid)).mkdir(parents=True, exist_ok=True)
        (self.proc / str(self.pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")

    def daemon_reload(self) -> None:
        pass

    def restart(self, unit: str) -> None:
        self.gauge.enter()
        began = time.monotonic()
        try:
            time.sleep(self.duration)
        finally:
            self.gauge.leave(began)
        self.pid += 1
        self._write_cmdline()
        self.active_us = time.monotonic_ns() // 1000

    def status(self, unit: str) -> UnitStatus:
        return UnitStatus(self.pid, "active", self.active_us)

    def cat(self, unit: str) -> dict[str, bytes]:
        return {}

    def journal(self, unit: str, lines: int = 20) -> str:
        return "(simulated)"


@dataclass
class FleetResult:
    nodes: int
    slots: int
    restart_seconds: float
    elapsed: float
    most_concurrent: int
    restarts: int
    requests: int
    states: dict[str, int]
    agents: list[Agent] = field(default_factory=list, repr=False)
    # Restart spans as offsets from the start of the fleet, in the order they ended.
    spans: list[tuple[float, float]] = field(default_factory=list, repr=False)

    def breakdown(self) -> str:
        """Where the time over the ideal went: before the first restart, idle slot time between
        the first restart and the last, and after the last restart ended."""
        if not self.spans:
            return "no restarts"
        first = min(start for start, _ in self.spans)
        last = max(end for _, end in self.spans)
        busy = sum(end - start for start, end in self.spans)
        used = 100.0 * busy / (self.slots * (last - first))
        return (
            f"first restart at {first:.1f} s; slots busy {used:.1f} % of the time between the first "
            f"restart and the last; last Installed {self.elapsed - last:.1f} s after the last restart"
        )

    def steady_writes(self) -> int:
        """API writes of one more pass of every agent over its installed node (a drift check)."""
        before = sum(a.kube.writes for a in self.agents)
        for agent in self.agents:
            agent.stop.clear()
            agent.reconcile_once()
        return sum(a.kube.writes for a in self.agents) - before

    @property
    def ideal(self) -> float:
        return math.ceil(self.nodes / self.slots) * self.restart_seconds

    @property
    def overhead_pct(self) -> float:
        return 100.0 * (self.elapsed - self.ideal) / self.ideal


def shared_transport(cluster: RemoteCluster) -> ApiClient:
    """One connection pool for the simulated fleet (at most 64 connections, callers queue): the
    emulator is a single asyncio server whose listen backlog 200 agents connecting at once
    overflow, where a real API server would queue them (API priority and fairness)."""
    api = api_client(host=cluster.url)
    api.rest_client.pool_manager = urllib3.PoolManager(num_pools=1, maxsize=64, block=True)
    return api


def watch_transport(cluster: RemoteCluster, nodes: int) -> ApiClient:
    """Watches hold their connection while a node waits: a pool with room for one per node."""
    api = api_client(host=cluster.url)
    api.rest_client.pool_manager = urllib3.PoolManager(num_pools=1, maxsize=nodes, block=False)
    return api


def make_node_agent(
    api: ApiClient,
    watch_api: ApiClient,
    base: Path,
    name: str,
    *,
    binary: Binary,
    gauge: Gauge,
    duration: float,
    slots: int,
) -> Agent:
    root = build(base / name / "root", "kubeadm-deb")
    proc = base / name / "proc"
    systemd = SimulatedSystemd(root, proc, duration, gauge)
    host = HostRun(
        HostSettings(),
        Options(root=str(root), restart_mode="systemd", proc=str(proc)),
        systemd,
        health=lambda: True,
    )  # type: ignore[arg-type]
    config = AgentConfig(
        node_name=name,
        namespace=NAMESPACE,
        max_concurrent_restarts=str(slots),
        # Long enough that a renewal queued behind 200 agents' requests still lands in time.
        lease_duration=max(5.0, 8 * duration),
        drift_interval=3600.0,  # one pass each: the fleet is measured on its first install
    )
    return Agent(config, Kube(api, watch_api), host, binary)


def run_fleet(
    cluster: RemoteCluster,
    base: Path,
    *,
    nodes: int,
    slots: int,
    duration: float,
    crashed: int = 0,
    timeout: float = 600,
) -> FleetResult:
    """NODES agents install at once; CRASHED of them first take a slot and die holding it (their
    pods come back after the lease has expired). Returns when every node reports Installed."""
    build_dir = fake_provider_build(base / "build")
    binary = Binary(str(build_dir), binary_digest(str(build_dir)))
    gauge = Gauge()
    names = [f"node-{i:03d}" for i in range(nodes)]
    for name in names:
        cluster.add_node(name)
    api = shared_transport(cluster)
    watch_api = watch_transport(cluster, nodes)
    agents = {
        name: make_node_agent(
            api, watch_api, base, name, binary=binary, gauge=gauge, duration=duration, slots=slots
        )
        for name in names
    }
    for name in names[:crashed]:  # a pod killed while holding a slot: no renewal, no release
        RestartSlots(agents[name].kube, NAMESPACE, "nodecred", name + "-crashed-pod", 5.0).try_acquire(slots)
    started = time.monotonic()
    threads = [threading.Thread(target=agents[n].run, name=n) for n in names]
    for thread in threads:
        thread.start()
    deadline = started + timeout
    while time.monotonic() < deadline and any(a.state != "Installed" for a in agents.values()):
        time.sleep(0.05)
    elapsed = time.monotonic() - started
    for agent in agents.values():
        agent.shutdown()
    for thread in threads:
        thread.join(30)
    states: dict[str, int] = {}
    for name in names:
        state = cluster.node(name)["metadata"].get("annotations", {}).get("nodecred.io/state", "Pending")
        states[state] = states.get(state, 0) + 1
    requests = sum(a.kube.requests for a in agents.values())
    spans = [(start - started, end - started) for start, end in gauge.spans]
    return FleetResult(
        nodes,
        slots,
        duration,
        elapsed,
        gauge.most,
        gauge.restarts,
        requests,
        states,
        list(agents.values()),
        spans,
    )
