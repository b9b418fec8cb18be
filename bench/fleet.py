"""Fleet benchmark: convergence against ceil(N/k) x T, API requests per node, steady-state writes,
and the RSS of an idle agent process. Prints figures; not a test.

Run: .venv/bin/python bench/fleet.py [--nodes 200] [--slots 10] [--restart 2.0]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.agent.emulator import running_process  # noqa: E402
from tests.agent.fleet import run_fleet  # noqa: E402
from tests.host.fixtures import build, fake_provider_build  # noqa: E402


def idle_agent_rss(url: str, work: Path) -> float:
    """MB resident of a real `nodecred agent` process once its node is Installed and it idles."""
    root = build(work / "rss-host", "kubeadm-deb")
    build_dir = fake_provider_build(work / "rss-build")
    settings = work / "agent.yaml"
    settings.write_text("agent:\n  healthPort: 0\n")
    env = {**os.environ, "NODE_NAME": "rss-node", "POD_NAMESPACE": "nodecred-system"}
    agent = subprocess.Popen(
        [str(Path(sys.executable).parent / "nodecred"), "agent", "--server", url, "--root", str(root),
         "--binary", str(build_dir), "--restart-mode", "none", "--settings", str(settings)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        time.sleep(8)
        with open(f"/proc/{agent.pid}/status", encoding="ascii") as handle:
            rss_kb = next(int(line.split()[1]) for line in handle if line.startswith("VmRSS:"))
    finally:
        agent.terminate()
        agent.wait(10)
    return rss_kb / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--slots", type=int, default=10)
    parser.add_argument("--restart", type=float, default=2.0, help="simulated kubelet restart, seconds")
    parser.add_argument(
        "--hosts",
        default="/dev/shm" if os.path.isdir("/dev/shm") else None,
        help="where the simulated host trees go (default: tmpfs, /dev/shm). Each real node writes "
        "to a disk of its own; 200 simulated ones on one disk queue their ~8,000 fsyncs behind "
        "each other, and the first restarts wait for that queue",
    )
    args = parser.parse_args()
    if args.hosts and not os.path.isdir(args.hosts):
        parser.error(f"--hosts {args.hosts}: not a directory; give one to put the host trees in")
    print(f"host trees in {args.hosts or tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory(dir=args.hosts) as tmp, running_process() as cluster:
        work = Path(tmp)
        result = run_fleet(cluster, work, nodes=args.nodes, slots=args.slots, duration=args.restart)
        print(f"converged in {result.elapsed:.1f} s; ideal ceil(N/k) x T = {result.ideal:.1f} s")
        print(f"states: {result.states}; most restarting at once: {result.most_concurrent}")
        print(result.breakdown())
        calls: Counter[str] = Counter()
        for agent in result.agents:
            calls.update(agent.kube.calls)
        print(
            "requests per node by call: "
            + ", ".join(f"{k} {v / args.nodes:.2f}" for k, v in calls.most_common())
        )
        # Steady state: every agent's drift pass over its installed node (one per 5 min).
        per_hour = result.steady_writes() / args.nodes * (3600 / 300)
        cluster.add_node("rss-node")
        rss = idle_agent_rss(cluster.url, work)
        print(
            f"nodes={args.nodes} slots={args.slots} max_concurrent={result.most_concurrent} "
            f"overhead_pct={result.overhead_pct:.1f} requests_per_node={result.requests / args.nodes:.1f} "
            f"steady_writes_per_hour={per_hour:.1f} rss_mb={rss:.0f}"
        )


if __name__ == "__main__":
    main()
