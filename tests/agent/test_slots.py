"""Restart slots on Leases: created or taken with resourceVersion preconditions, renewed, released,
and freed by expiry when the holder is gone."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from nodecred.agent.kube import Kube, api_client
from nodecred.agent.slots import RestartSlots, SlotLost
from tests.agent.emulator import running

NS = "nodecred-system"


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_one_slot_one_holder_then_expiry_hands_it_over() -> None:
    clock = Clock()
    with running() as cluster:
        a = RestartSlots(Kube(api_client(host=cluster.url)), NS, "nodecred", "node-a", 30, clock=clock)
        b = RestartSlots(Kube(api_client(host=cluster.url)), NS, "nodecred", "node-b", 30, clock=clock)
        assert a.try_acquire(1) == "nodecred-restart-0"
        assert b.try_acquire(1) is None  # held and fresh
        clock.now += 20
        a.renew("nodecred-restart-0")
        clock.now += 20
        assert b.try_acquire(1) is None  # renewed 20 s ago: still a's
        clock.now += 11
        assert b.try_acquire(1) == "nodecred-restart-0"  # a stopped renewing (crashed): expired
        (lease,) = cluster.leases()
        assert lease["spec"]["holderIdentity"] == "node-b"
        assert lease["spec"]["leaseTransitions"] == 1
        with pytest.raises(SlotLost):
            a.renew("nodecred-restart-0")  # a's last write is stale now: 409
        b.release_slot("nodecred-restart-0")
        assert "holderIdentity" not in cluster.leases()[0]["spec"]
        assert a.try_acquire(1) == "nodecred-restart-0"  # released: free at once


def test_k_slots_are_k_leases() -> None:
    with running() as cluster:
        holders = [RestartSlots(Kube(api_client(host=cluster.url)), NS, "rel", f"n{i}", 30) for i in range(4)]
        taken = [h.try_acquire(3) for h in holders]
        assert sorted(t for t in taken if t) == ["rel-restart-0", "rel-restart-1", "rel-restart-2"]
        assert taken.count(None) == 1


class ListedTogether(Kube):
    """A Kube whose Lease LIST answers only once every agent has listed: the agents of a new
    cluster, started together, all see no slot and then race to create them."""

    def __init__(self, url: str, barrier: threading.Barrier) -> None:
        super().__init__(api_client(host=url))
        self.barrier = barrier

    def leases(self, namespace: str) -> dict[str, dict[str, Any]]:
        listed = super().leases(namespace)
        self.barrier.wait(10)
        return listed


def test_agents_that_start_together_create_every_slot() -> None:
    """Each agent that loses the create of a missing slot goes on to the next missing one: none of
    the k slots is left uncreated (it would idle until a waiter's watch timed out)."""
    agents = 6
    barrier = threading.Barrier(agents)
    with running() as cluster:
        holders = [
            RestartSlots(ListedTogether(cluster.url, barrier), NS, "rel", f"n{i}", 30) for i in range(agents)
        ]
        taken: list[str | None] = [None] * agents

        def take(i: int) -> None:
            taken[i] = holders[i].try_acquire(agents)

        threads = [threading.Thread(target=take, args=(i,)) for i in range(agents)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert sorted(t for t in taken if t) == [f"rel-restart-{i}" for i in range(agents)]
        assert sorted(lease["spec"]["holderIdentity"] for lease in cluster.leases()) == [
            f"n{i}" for i in range(agents)
        ]


def test_a_stale_write_loses_the_race() -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        first = RestartSlots(kube, NS, "nodecred", "node-a", 30)
        first.try_acquire(1)
        lease = kube.leases(NS).get("nodecred-restart-0")
        assert lease is not None
        stale = lease["metadata"]["resourceVersion"]
        first.renew("nodecred-restart-0")
        from nodecred.agent.kube import KubeError

        with pytest.raises(KubeError) as info:
            kube.update_lease(NS, "nodecred-restart-0", stale, {"holderIdentity": "intruder"})
        assert info.value.status == 409


def _waiting(
    slots: RestartSlots, k: int, stop: threading.Event
) -> tuple[threading.Thread, dict[str, object]]:
    """SLOTS.acquire(k) in a thread; the result lands in the dict ("waiting" once it has said so)."""
    box: dict[str, object] = {}

    def run() -> None:
        box["slot"] = slots.acquire(k, stop, lambda: box.setdefault("waiting", True))

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    while "waiting" not in box and "slot" not in box:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # its watch is open
    return thread, box


def test_a_freed_slot_goes_to_the_longest_waiter_through_the_watch() -> None:
    with running() as cluster:
        kube = lambda: Kube(api_client(host=cluster.url))  # noqa: E731 - one client per node
        a, b, c = (RestartSlots(kube(), NS, "nodecred", f"node-{n}", 30) for n in "abc")
        assert a.try_acquire(1) == "nodecred-restart-0"
        stop = threading.Event()
        b_thread, b_box = _waiting(b, 1, stop)
        c_thread, c_box = _waiting(c, 1, stop)
        requests_before = b.kube.requests
        with a.holding("nodecred-restart-0", lambda: ["node-c", "node-b"]):
            pass  # restart, verify; then handed to node-c, the first in line
        c_thread.join(10)
        assert c_box["slot"] == "nodecred-restart-0"
        assert cluster.leases()[0]["spec"]["holderIdentity"] == "node-c"
        assert b_thread.is_alive()  # still waiting, and asked the API nothing meanwhile
        assert b.kube.requests == requests_before
        with c.holding("nodecred-restart-0", lambda: ["node-b"]):
            c.renew("nodecred-restart-0")  # the handed slot is c's: its writes carry the right version
        b_thread.join(10)
        assert b_box["slot"] == "nodecred-restart-0"
        assert cluster.leases()[0]["spec"]["leaseTransitions"] == 2
        b.release_slot("nodecred-restart-0")  # nobody waits: freed
        assert "holderIdentity" not in cluster.leases()[0]["spec"]
        stop.set()


def test_a_second_slot_handed_to_a_holder_is_passed_on_at_once() -> None:
    """Two holders releasing in the same instant can pick the same waiter: it keeps one slot and
    passes the other to the next waiter instead of leaving it idle until it expires."""
    with running() as cluster:
        kube = lambda: Kube(api_client(host=cluster.url))  # noqa: E731
        a, b, c, d = (RestartSlots(kube(), NS, "nodecred", f"node-{n}", 30) for n in "abcd")
        assert a.try_acquire(2)
        assert b.try_acquire(2)
        stop = threading.Event()
        c_thread, c_box = _waiting(c, 2, stop)
        d_thread, d_box = _waiting(d, 2, stop)
        first = sorted(a.held)[0]
        a.release_slot(first, ["node-c"])
        c_thread.join(10)
        assert c_box["slot"] == first
        with c.holding(first, lambda: ["node-d"]):
            second = sorted(b.held)[0]
            b.release_slot(second, ["node-c"])  # b read the same queue a did
            d_thread.join(10)
            assert d_box["slot"] == second
        holders = {
            lease["metadata"]["name"]: lease["spec"].get("holderIdentity") for lease in cluster.leases()
        }
        assert holders[second] == "node-d"
        stop.set()


def test_a_waiter_stops_at_once_when_told() -> None:
    with running() as cluster:
        a = RestartSlots(Kube(api_client(host=cluster.url)), NS, "nodecred", "node-a", 60)
        b = RestartSlots(Kube(api_client(host=cluster.url)), NS, "nodecred", "node-b", 60)
        assert a.try_acquire(1)
        stop = threading.Event()
        thread, box = _waiting(b, 1, stop)
        started = time.monotonic()
        stop.set()
        b.kube.abort_watches()  # what Agent.shutdown does on SIGTERM
        thread.join(10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 2
        assert box["slot"] is None
