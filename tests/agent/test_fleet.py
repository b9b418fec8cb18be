"""200 simulated nodes against one emulator: never more than k restarting, all converge, and the
slots of crashed agents come back when their Leases expire."""

from __future__ import annotations

from pathlib import Path

from tests.agent.emulator import running_process
from tests.agent.fleet import run_fleet


def test_two_hundred_nodes_never_exceed_the_slots(tmp_path: Path) -> None:
    with running_process() as cluster:
        result = run_fleet(cluster, tmp_path, nodes=200, slots=10, duration=0.5, crashed=3)
    print(
        f"\nfleet: {result.nodes} nodes, k={result.slots}, T={result.restart_seconds}s: {result.elapsed:.1f}s "
        f"(ideal {result.ideal:.1f}s), most concurrent {result.most_concurrent}, "
        f"{result.requests / result.nodes:.1f} requests per node"
    )
    assert result.states == {"Installed": 200}
    assert result.restarts == 200
    assert result.most_concurrent <= 10
    assert (
        result.most_concurrent >= 5
    )  # the slots were used, not left idle  # the slots were used, not left idle
