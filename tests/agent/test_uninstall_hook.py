"""The chart's pre-delete hook (`nodecred release uninstall`) with real agents against the emulator."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from nodecred.agent.kube import Kube, NodeView, api_client
from nodecred.agent.uninstall_hook import progress
from tests.agent.emulator import running
from tests.agent.test_agent import NS, P, make_agent
from tests.host.fixtures import build, fake_provider_build, tree_bytes

PROGRAM = "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))"


def _hook(url: str, *extra: str) -> subprocess.Popen[str]:
    args = ["release", "uninstall", "--server", url, "-n", NS, "--interval", "0.1", *extra]
    return subprocess.Popen(
        [sys.executable, "-c", PROGRAM, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_progress_counts_untouched_and_unsupported_nodes_as_done() -> None:
    nodes = [
        NodeView("a", {P + "state": "Installed"}, {}),
        NodeView("b", {}, {}),
        NodeView("c", {P + "state": "Unsupported"}, {}),
        NodeView("d", {P + "state": "Uninstalled"}, {}),
    ]
    now = progress(nodes, P)
    assert (now.done, now.total, now.waiting) == (3, 4, ("a",))
    assert now.line() == "3/4 nodes uninstalled; waiting for a"


def test_hook_sets_uninstall_mode_and_waits_for_every_agent(tmp_path: Path) -> None:
    with running() as cluster:
        build_dir = fake_provider_build(tmp_path / "build")
        agents, roots, before = [], [], []
        for i in range(2):
            root = build(tmp_path / f"host-{i}", "kubeadm-deb")
            before.append(tree_bytes(root))
            agent = make_agent(cluster, root, build_dir, node=f"node-{i}")
            assert agent.reconcile_once() == "Installed"
            agents.append(agent)
            roots.append(root)
        cluster.add_node("node-without-agent")
        hook = _hook(cluster.url, "--timeout", "60s")
        mode: dict[str, str] | None = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # the hook flips the mode the agents read
            mode = Kube(api_client(host=cluster.url)).configmap_data(NS, "nodecred-mode")
            if mode and mode.get("mode") == "uninstall":
                break
            time.sleep(0.05)
        assert mode == {"mode": "uninstall"}
        for agent in agents:
            assert agent.reconcile_once() == "Uninstalled"
        out, err = hook.communicate(timeout=30)
        assert hook.returncode == 0, err
        assert "mode uninstall" in out
        assert out.rstrip().endswith("3/3 nodes uninstalled")
        for root, was in zip(roots, before, strict=True):
            after = tree_bytes(root)
            after.pop("/run/lock/nodecred.lock", None)
            assert after == was


def test_hook_times_out_naming_the_nodes_that_did_not_finish(tmp_path: Path) -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        for name, state in (("node-a", "Installed"), ("node-b", "Uninstalled"), ("node-c", "RolledBack")):
            cluster.add_node(name)
            kube.patch_node(name, {"metadata": {"annotations": {P + "state": state}}})
        hook = _hook(cluster.url, "--timeout", "1s")
        out, _ = hook.communicate(timeout=30)
        assert hook.returncode == 1
        assert "timed out after 1s: 1/3 nodes uninstalled; waiting for node-a, node-c" in out
        assert "helm uninstall --no-hooks" in out


def test_hook_bad_timeout_is_a_usage_error() -> None:
    hook = _hook("http://127.0.0.1:9", "--timeout", "soon")
    _, err = hook.communicate(timeout=30)
    assert hook.returncode == 2
    assert err.strip().endswith("--timeout soon: give a positive duration such as 10m")
