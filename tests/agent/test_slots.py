"""Restart slots on Leases: created or taken with resourceVersion preconditions, renewed, released,
and freed by expiry when the holder is gone."""

from __future__ import annotations

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


def test_a_stale_write_loses_the_race() -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        first = RestartSlots(kube, NS, "nodecred", "node-a", 30)
        first.try_acquire(1)
        lease = kube.lease(NS, "nodecred-restart-0")
        assert lease is not None
        stale = lease["metadata"]["resourceVersion"]
        first.renew("nodecred-restart-0")
        from nodecred.agent.kube import KubeError

        with pytest.raises(KubeError) as info:
            kube.update_lease(NS, "nodecred-restart-0", stale, {"holderIdentity": "intruder"})
        assert info.value.status == 409
