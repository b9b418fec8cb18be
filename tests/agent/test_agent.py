"""The agent with the official client against kmock's emulator on 127.0.0.1, on real host trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecred.agent.config import AgentConfig
from nodecred.agent.kube import Kube, KubeError, api_client
from nodecred.agent.reconcile import Agent
from nodecred.agent.report import Report, node_patch
from nodecred.host.install import HostRun, Options, binary_digest
from nodecred.host.plan import Binary
from nodecred.host.settings import HostSettings
from tests.agent.emulator import Cluster, running
from tests.host.fixtures import build, fake_provider_build, tree_bytes

P = "nodecred.io/"
NS = "nodecred-system"


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    with running() as emulated:
        yield emulated


def make_agent(
    cluster: Cluster, root: Path, build_dir: Path, node: str = "node-1", **config: object
) -> Agent:
    cluster.add_node(node) if node not in _names(cluster) else None
    settings = HostSettings()
    host = HostRun(settings, Options(root=str(root), restart_mode="none"))
    agent_config = AgentConfig(node_name=node, namespace=NS, **config)  # type: ignore[arg-type]
    return Agent(
        agent_config,
        Kube(api_client(host=cluster.url)),
        host,
        Binary(str(build_dir), binary_digest(str(build_dir))),
    )


def _names(cluster: Cluster) -> set[str]:
    try:
        return {n.name for n in Kube(api_client(host=cluster.url)).list_nodes()}
    except KubeError:
        return set()


@pytest.fixture
def host(tmp_path: Path) -> tuple[Path, Path]:
    return build(tmp_path / "host", "kubeadm-deb"), fake_provider_build(tmp_path / "build")


def test_install_reports_annotations_label_and_events(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    agent = make_agent(cluster, root, build_dir)
    assert agent.reconcile_once() == "Installed"
    meta = cluster.node("node-1")["metadata"]
    notes = meta["annotations"]
    assert notes[P + "state"] == "Installed"
    assert notes[P + "profile"] == "kubeadm-deb"
    assert notes[P + "message"] == "applied; restart pending"
    assert notes[P + "config-hash"].startswith("sha256:")
    assert notes[P + "provider-version"].startswith("0.1.0+")
    assert notes[P + "last-transition"].endswith("Z")
    assert meta["labels"]["nodecred.io/ready"] == "true"
    reasons = [e["reason"] for e in sorted(cluster.events(), key=lambda e: e["metadata"]["name"])]
    assert reasons == ["Installing", "Installed"]
    assert all(
        e["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "node-1", "uid": "node-1"}
        for e in cluster.events()
    )


def test_rerun_writes_nothing(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    make_agent(cluster, root, build_dir).reconcile_once()
    writes = len(cluster.emulator.writes)
    fresh = make_agent(cluster, root, build_dir)  # a restarted agent pod
    assert fresh.reconcile_once() == "Installed"
    assert fresh.kube.writes == 0
    assert len(cluster.emulator.writes) == writes


def test_drift_is_repaired(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    agent = make_agent(cluster, root, build_dir)
    agent.reconcile_once()
    (root / "etc/default/kubelet").write_text("KUBELET_EXTRA_ARGS=\n")  # e.g. a config management run
    assert agent.reconcile_once() == "Installed"
    assert "--image-credential-provider-config" in (root / "etc/default/kubelet").read_text()
    reasons = [e["reason"] for e in sorted(cluster.events(), key=lambda e: e["metadata"]["name"])]
    assert reasons == ["Installing", "Installed", "Installing", "Installed"]


def test_uninstall_mode(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    before = tree_bytes(root)
    agent = make_agent(cluster, root, build_dir)
    agent.reconcile_once()
    cluster.set_mode(NS, "nodecred-mode", "uninstall")
    assert agent.reconcile_once() == "Uninstalled"
    after = tree_bytes(root)
    after.pop("/run/lock/nodecred.lock", None)
    assert after == before
    notes = cluster.node("node-1")["metadata"]
    assert notes["annotations"][P + "state"] == "Uninstalled"
    assert notes["labels"]["nodecred.io/ready"] == "false"
    writes = agent.kube.writes
    assert agent.reconcile_once() == "Uninstalled"  # idle: nothing read from the host, nothing written
    assert agent.kube.writes == writes


def test_unsupported_node(cluster: Cluster, tmp_path: Path) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    agent = make_agent(cluster, root, fake_provider_build(tmp_path / "build"))
    assert agent.reconcile_once() == "Unsupported"
    notes = cluster.node("node-1")["metadata"]["annotations"]
    assert "no kubelet found" in notes[P + "message"]
    assert [e["type"] for e in cluster.events()] == ["Warning"]


def test_patch_is_only_the_changed_keys() -> None:
    current = {
        P + "state": "Installed",
        P + "message": "m",
        P + "profile": "kubeadm-deb",
        P + "last-transition": "t",
    }
    labels = {"nodecred.io/ready": "true"}
    assert node_patch(P, current, labels, Report("Installed", "m", profile="kubeadm-deb"), 0) is None
    patch = node_patch(P, current, labels, Report("Installed", "new message"), 0)
    assert patch == {"metadata": {"annotations": {P + "message": "new message"}}}
    patch = node_patch(P, current, labels, Report("Failed", "broken"), 1_795_000_000)
    assert patch == {
        "metadata": {
            "annotations": {
                P + "state": "Failed",
                P + "message": "broken",
                P + "last-transition": "2026-11-18T11:06:40Z",
            },
            "labels": {"nodecred.io/ready": "false"},
        }
    }
    # The waiting label is there only while WaitingForSlot: holders of slots list the nodes by it.
    waiting = node_patch(P, current, labels, Report("WaitingForSlot", "all held"), 1)
    assert waiting is not None
    assert waiting["metadata"]["labels"] == {"nodecred.io/ready": "false", "nodecred.io/waiting": "true"}
    labels = {"nodecred.io/ready": "false", "nodecred.io/waiting": "true"}
    done = node_patch(P, {**current, P + "state": "WaitingForSlot"}, labels, Report("Restarting", "r"), 2)
    assert done is not None
    assert done["metadata"]["labels"] == {"nodecred.io/waiting": None}


def test_custom_prefix(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    make_agent(cluster, root, build_dir, prefix="creds.example.com/").reconcile_once()
    meta = cluster.node("node-1")["metadata"]
    assert meta["annotations"]["creds.example.com/state"] == "Installed"
    assert meta["labels"]["creds.example.com/ready"] == "true"
    assert not any(k.startswith(P) for k in meta["annotations"])


@pytest.mark.parametrize("status", [403, 500])
def test_api_errors_change_nothing_and_back_off(
    cluster: Cluster, host: tuple[Path, Path], status: int
) -> None:
    root, build_dir = host
    before = tree_bytes(root)
    agent = make_agent(cluster, root, build_dir)
    cluster.emulator.fail_next.extend([status] * 3)
    with pytest.raises(KubeError) as info:
        agent.reconcile_once()
    assert info.value.status == status
    assert tree_bytes(root) == before  # the host is not touched before the API answers
    # run() retries with backoff (1 s, 2 s, ...) and gets through once the API recovers.
    thread = threading.Thread(target=agent.run)
    started = time.monotonic()
    thread.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and agent.state != "Installed":
        time.sleep(0.1)
    agent.stop.set()
    thread.join(10)
    assert agent.state == "Installed"
    assert time.monotonic() - started >= 1.0  # backed off instead of hammering


def test_api_timeout_is_an_error_not_a_hang(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    agent = make_agent(cluster, root, build_dir)
    agent.kube.timeout = 0.5
    cluster.emulator.delay = 2.0
    started = time.monotonic()
    with pytest.raises(KubeError) as info:
        agent.reconcile_once()
    cluster.emulator.delay = 0
    assert time.monotonic() - started < 2
    assert info.value.status == 0


def test_probe_reports_per_registry(cluster: Cluster, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    agent = make_agent(cluster, root, build_dir)
    agent.host.settings = HostSettings(
        provider_settings={
            "apiVersion": "nodecred.io/v1alpha1",
            "kind": "ProviderSettings",
            "registries": [
                {
                    "match": ["*.dkr.ecr.*.amazonaws.com"],
                    "ecr": {},
                    "probeImage": "1.dkr.ecr.us-east-1.amazonaws.com/a",
                },
                {"match": ["r.example.com"], "helper": {"name": "x"}, "probeImage": "r.example.com/b"},
            ],
        }
    )

    def fake_host(argv: list[str], stdin: bytes) -> tuple[int, bytes, bytes]:
        image = json.loads(stdin)["image"]
        if "ecr" in image:
            return (
                1,
                b"",
                b"nodecred-provider: AccessDenied: the node's AWS identity may not call ecr:GetAuthorizationToken\n",
            )
        body = {
            "apiVersion": "credentialprovider.kubelet.k8s.io/v1",
            "kind": "CredentialProviderResponse",
            "cacheKeyType": "Registry",
            "auth": {"r.example.com": {"username": "u", "password": "p"}},
        }
        return 0, json.dumps(body).encode(), b""

    agent.prober = fake_host
    agent.reconcile_once()
    probe = json.loads(cluster.node("node-1")["metadata"]["annotations"][P + "probe"])
    assert probe == {
        "1.dkr.ecr.us-east-1.amazonaws.com": "nodecred-provider: AccessDenied: the node's AWS identity may not call ecr:GetAuthorizationToken",
        "r.example.com": "ok",
    }
    assert b'nodecred_probe_ok{registry="r.example.com"} 1.0' in agent.metrics.render()


def _agent_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    program = "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", program, "agent", *args], capture_output=True, text=True, env=env, check=False
    )


@pytest.mark.parametrize(
    ("settings", "env", "message"),
    [
        (
            "agent:\n  maxConcurrentRestarts: lots\n",
            {},
            "agent.maxConcurrentRestarts: 'lots'; give a count (3) or a percentage (10%)",
        ),
        (
            "agent:\n  annotationPrefix: Nodecred\n",
            {},
            "agent.annotationPrefix: 'Nodecred'; give a DNS name and a slash",
        ),
        ("agent:\n  driftInterval: often\n", {}, "agent.driftInterval: give a positive duration such as 5m"),
        ("agent:\n  pollEvery: 1s\n", {}, "agent.pollEvery: unknown field"),
        ("matchImages: []\n", {}, "matchImages: give a list of image patterns"),
        (
            "",
            {"NODE_NAME": ""},
            "NODE_NAME is not set: give the pod env NODE_NAME from fieldRef spec.nodeName",
        ),
    ],
)
def test_bad_agent_input_is_one_line_and_touches_nothing(
    tmp_path: Path, host: tuple[Path, Path], settings: str, env: dict[str, str], message: str
) -> None:
    root, build_dir = host
    before = tree_bytes(root)
    path = tmp_path / "agent.yaml"
    path.write_text(settings)
    full_env = {**os.environ, "NODE_NAME": "node-1", "POD_NAMESPACE": NS, **env}
    result = _agent_cli(full_env, "--once", "--settings", str(path), "--root", str(root), "--binary", str(build_dir),
                        "--restart-mode", "none", "--server", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
    assert tree_bytes(root) == before


def test_unreachable_api_changes_nothing(tmp_path: Path, host: tuple[Path, Path]) -> None:
    root, build_dir = host
    before = tree_bytes(root)
    env = {**os.environ, "NODE_NAME": "node-1", "POD_NAMESPACE": NS}
    result = _agent_cli(env, "--once", "--root", str(root), "--binary", str(build_dir), "--restart-mode", "none",
                        "--server", "http://127.0.0.1:9")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == "error: get node node-1: no answer MaxRetryError"
    assert tree_bytes(root) == before


def test_an_answer_that_is_not_json_is_an_error_that_changes_nothing(
    tmp_path: Path, host: tuple[Path, Path]
) -> None:
    """A proxy's HTML page where the API server should be: one KubeError naming the call."""
    import http.server

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = b"<html>Service Unavailable</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    root, build_dir = host
    before = tree_bytes(root)
    try:
        kube = Kube(api_client(host=f"http://127.0.0.1:{server.server_port}"))
        agent = Agent(
            AgentConfig(node_name="node-1", namespace=NS),
            kube,
            HostRun(HostSettings(), Options(root=str(root), restart_mode="none")),
            Binary(str(build_dir), binary_digest(str(build_dir))),
        )
        with pytest.raises(KubeError) as info:
            agent.reconcile_once()
    finally:
        server.shutdown()
    assert str(info.value) == "get node node-1: 200 the answer is not JSON"
    assert tree_bytes(root) == before


def test_sigterm_while_waiting_for_a_slot_leaves_the_restart_to_the_next_agent(tmp_path: Path) -> None:
    """Files are written (journaled) before the wait; the restart itself happens only in a slot,
    by whichever agent holds the node next."""
    from nodecred.agent.slots import RestartSlots
    from tests.agent.fleet import NAMESPACE, Gauge, make_node_agent

    build_dir = fake_provider_build(tmp_path / "build")
    with running() as cluster:
        api = api_client(host=cluster.url)
        cluster.add_node("node-000")
        binary = Binary(str(build_dir), binary_digest(str(build_dir)))
        gauge = Gauge()
        agent = make_node_agent(
            api, api, tmp_path, "node-000", binary=binary, gauge=gauge, duration=0.1, slots=1
        )
        other = RestartSlots(Kube(api), NAMESPACE, "nodecred", "another-node", 60)
        assert other.try_acquire(1)
        thread = threading.Thread(target=agent.run)
        thread.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and agent.state != "WaitingForSlot":
            time.sleep(0.05)
        agent.shutdown()  # what the SIGTERM handler does: the watch for a slot ends at once
        thread.join(10)
        assert not thread.is_alive()
        assert cluster.node("node-000")["metadata"]["annotations"][P + "state"] == "WaitingForSlot"
        assert agent.host.restart_pending()
        assert gauge.restarts == 0  # never outside a slot
        other.release_slot("nodecred-restart-0")
        successor = make_node_agent(
            api, api, tmp_path / "again", "node-000", binary=binary, gauge=gauge, duration=0.1, slots=1
        )
        successor.host = agent.host  # the same node, a new pod
        assert successor.reconcile_once() == "Installed"
        assert gauge.restarts == 1
        notes = cluster.node("node-000")["metadata"]["annotations"]
        assert notes[P + "message"] == "applied; kubelet restarted and verified"


def test_a_binary_that_is_not_a_provider_build_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "not-a-build").mkdir()
    env = {**os.environ, "NODE_NAME": "node-1", "POD_NAMESPACE": NS}
    result = _agent_cli(
        env, "--once", "--binary", str(tmp_path / "not-a-build"), "--server", "http://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert "no nodecred-provider in it; give the frozen build's directory" in result.stderr
    assert "Traceback" not in result.stderr
