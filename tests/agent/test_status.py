"""`nodecred status`: the table, the summary line, and the exit code pipelines gate on."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

from nodecred.agent.kube import Kube, api_client
from nodecred.cli import main
from tests.agent.emulator import running

P = "nodecred.io/"


def _seed(kube: Kube, name: str, state: str, profile: str = "kubeadm-deb") -> None:
    kube.patch_node(
        name,
        {
            "metadata": {
                "annotations": {
                    P + "state": state,
                    P + "profile": profile,
                    P + "provider-version": "0.1.0+abc",
                    P + "last-transition": "2026-11-22T10:00:00Z",
                    P + "probe": '{"r.example.com":"ok"}',
                }
            }
        },
    )


def test_table_summary_and_exit_code() -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        for i, state in enumerate(["Installed"] * 3 + ["WaitingForSlot"]):
            cluster.add_node(f"node-{i}", {"pool": "a"})
            _seed(kube, f"node-{i}", state)
        out = io.StringIO()
        assert main(["status", "--server", cluster.url], out) == 0
        text = out.getvalue()
        assert text.splitlines()[0].split() == ["NODE", "STATE", "PROFILE", "VERSION", "PROBE", "AGE"]
        assert "node-3  WaitingForSlot  kubeadm-deb  0.1.0+abc" in text
        assert text.endswith("3/4 Installed, 1 WaitingForSlot\n")
        cluster.add_node("node-9", {"pool": "b"})
        _seed(kube, "node-9", "Failed", "eks-al2")
        out = io.StringIO()
        assert main(["status", "--server", cluster.url], out) == 1  # a failed node fails the pipeline
        assert out.getvalue().endswith("3/5 Installed, 1 WaitingForSlot, 1 Failed\n")
        out = io.StringIO()
        assert main(["status", "--server", cluster.url, "--selector", "pool=a"], out) == 0
        assert "node-9" not in out.getvalue()


def test_watch_draws_progress_until_settled() -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        cluster.add_node("node-0")
        _seed(kube, "node-0", "Installed")
        cluster.add_node("node-1")
        _seed(kube, "node-1", "Restarting")
        program = "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))"
        watcher = subprocess.Popen(
            [
                sys.executable,
                "-c",
                program,
                "status",
                "--watch",
                "--server",
                cluster.url,
                "--interval",
                "0.2",
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        import time

        time.sleep(1.0)
        _seed(kube, "node-1", "Installed")
        out, _ = watcher.communicate(timeout=30)
        assert watcher.returncode == 0
        assert "[####################....................] 1/2  1/2 Installed, 1 Restarting" in out
        assert "[########################################] 2/2  2/2 Installed" in out


def test_status_without_an_api_is_one_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))",
         "status", "--server", "http://127.0.0.1:9"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: list nodes: no answer")
    assert "Traceback" not in result.stderr


def test_status_without_a_kubeconfig_is_one_line(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "absent")}
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))", "status"],
        capture_output=True, text=True, check=False, env=env,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith("error: no Kubernetes API to talk to")
    assert "give --kubeconfig or KUBECONFIG" in result.stderr
    assert "Traceback" not in result.stderr


def test_require_installed_gates_helm_test(capsys: object) -> None:
    with running() as cluster:
        kube = Kube(api_client(host=cluster.url))
        assert (
            main(["status", "--server", cluster.url, "--require-installed"], io.StringIO()) == 1
        )  # no nodes
        cluster.add_node("node-0")
        _seed(kube, "node-0", "Installed")
        assert main(["status", "--server", cluster.url, "--require-installed"], io.StringIO()) == 0
        cluster.add_node("node-1")
        _seed(kube, "node-1", "WaitingForSlot")
        assert main(["status", "--server", cluster.url], io.StringIO()) == 0
        assert main(["status", "--server", cluster.url, "--require-installed"], io.StringIO()) == 1
