"""A real systemd node: debootstrapped Debian booted with systemd-nspawn, a kubeadm-style kubelet
stand-in unit, and nodecred run from inside the node's PID namespace with its root at /host,
so `nsenter -t 1 -m` reaches the node's systemd exactly as the DaemonSet reaches the host's.

The cases run in order on one booted node: clean install, a second run that changes nothing,
a config change, a kubelet that fails after the restart (rolled back, healthy), uninstall.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent.emulator import Cluster, running
from tests.host.fixtures import secret_volume
from tests.host.node.harness import FROZEN, SECRET, Node, booted, build_node, healthz


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    assert (FROZEN / "nodecred-provider").exists(), "run `make provider` first (make test does)"
    root = tmp_path_factory.mktemp("node") / "root"
    build_node(root)
    with booted(root) as running_node:
        yield running_node


def _settings(tmp_path: Path, match: str = '["*", "*.*", "*.*.*"]', timeout: str = "60s") -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text(
        "apiVersion: nodecred.io/v1alpha1\nkind: AgentSettings\n"
        f"matchImages: {match}\n"
        f"restart: {{timeout: {timeout}}}\n"
        "provider:\n  apiVersion: nodecred.io/v1alpha1\n  kind: ProviderSettings\n"
        "  cacheDir: /var/lib/nodecred/cache\n  registries:\n"
        "    - match: [registry.example.com]\n"
        "      static: {username: robot, passwordFile: /etc/nodecred/secrets/registry}\n"
    )
    return path


def _files(root: Path) -> dict[str, bytes]:
    out = {}
    for path in (
        "etc/default/kubelet",
        "var/lib/kubelet/kubeadm-flags.env",
        "etc/nodecred/credential-provider-config.yaml",
    ):
        full = root / path
        if full.exists():
            out[path] = full.read_bytes()
    return out


class TestSystemdNode:
    """In order: each case starts from where the one before left the node."""

    def test_clean_install_restarts_and_verifies(self, node: Node, tmp_path: Path) -> None:
        node.original = _files(node.root)
        old_pid, _ = node.kubelet()
        code, out = node.nodecred("apply", _settings(tmp_path))
        assert code == 0, out + node.journal()
        assert "Installed: applied; kubelet restarted and verified (profile kubeadm-deb)" in out
        pid, state = node.kubelet()
        assert (state, pid != old_pid) == ("active", True)
        cmdline = node.cmdline(pid)
        assert "--image-credential-provider-config=/etc/nodecred/credential-provider-config.yaml" in cmdline
        log = node.journal()
        assert "provider nodecred-provider answered for registry.example.com/team/app:1.0" in log
        assert "users=['robot']" in log
        assert SECRET not in log
        assert healthz()

    def test_second_run_changes_nothing(self, node: Node, tmp_path: Path) -> None:
        pid, _ = node.kubelet()
        code, out = node.nodecred("apply", _settings(tmp_path))
        assert code == 0, out
        assert "Installed: nothing to do" in out
        assert node.kubelet() == (pid, "active")

    def test_config_change_restarts_again(self, node: Node, tmp_path: Path) -> None:
        pid, _ = node.kubelet()
        code, out = node.nodecred("apply", _settings(tmp_path, match='["*", "*.*", "*.*.*", "*.*.*.*"]'))
        assert code == 0, out
        assert "kubelet restarted and verified" in out
        new_pid, state = node.kubelet()
        assert (state, new_pid != pid) == ("active", True)
        assert "- '*.*.*.*'" in (node.root / "etc/nodecred/credential-provider-config.yaml").read_text()

    def test_kubelet_failing_after_restart_is_rolled_back(self, node: Node, tmp_path: Path) -> None:
        before = _files(node.root)
        (node.root / "etc/standin").mkdir(exist_ok=True)
        (node.root / "etc/standin/reject-pattern").write_text("*.*.*.*.*\n")
        try:
            code, out = node.nodecred(
                "apply",
                _settings(tmp_path, match='["*", "*.*", "*.*.*", "*.*.*.*", "*.*.*.*.*"]', timeout="15s"),
            )
            assert code == 1, out
            assert out.startswith("RolledBack: ")
            assert "rolled back: the kubelet is back as it was" in out
            assert "panic: cannot compile matchImages pattern '*.*.*.*.*'" in out  # the kubelet's last lines
            assert _files(node.root) == before
            assert node.kubelet()[1] == "active"
            assert healthz()
        finally:
            (node.root / "etc/standin/reject-pattern").unlink()

    def test_uninstall_gives_the_original_files_back(self, node: Node, tmp_path: Path) -> None:
        pid, _ = node.kubelet()
        code, out = node.nodecred("uninstall", _settings(tmp_path))
        assert code == 0, out
        assert "Uninstalled: applied; kubelet restarted and verified" in out
        new_pid, state = node.kubelet()
        assert (state, new_pid != pid) == ("active", True)
        assert _files(node.root) == node.original
        assert not (node.root / "opt/nodecred/bin/nodecred-provider").exists()
        assert not [w for w in node.cmdline(new_pid) if w.startswith("--image-credential-provider")]

    def test_runtime_dropin_seen_only_by_systemd_is_honoured(self, node: Node, tmp_path: Path) -> None:
        """A drop-in under the node's /run (a tmpfs the bind-mounted root does not show) moves
        KUBELET_EXTRA_ARGS to /etc/sysconfig/kubelet: only `systemctl cat` reveals it."""
        dropin = "/run/systemd/system/kubelet.service.d/20-runtime.conf"
        node.sh("mkdir", "-p", "/run/systemd/system/kubelet.service.d")
        node.sh(
            "sh", "-c",
            f"printf '[Service]\\nEnvironmentFile=\\nEnvironmentFile=-/var/lib/kubelet/kubeadm-flags.env\\n"
            f"EnvironmentFile=-/etc/sysconfig/kubelet\\n' > {dropin}",
        )  # fmt: skip
        node.sh("systemctl", "daemon-reload")
        node.sh("systemctl", "restart", "kubelet.service")
        assert not (node.root / dropin.lstrip("/")).exists()
        try:
            code, out = node.nodecred("apply", _settings(tmp_path))
            assert code == 0, out + node.journal()
            assert "kubelet restarted and verified (profile kubeadm-rpm)" in out
            assert "--image-credential-provider-config" in (node.root / "etc/sysconfig/kubelet").read_text()
            assert (node.root / "etc/default/kubelet").read_text() == "KUBELET_EXTRA_ARGS=\n"
            code, out = node.nodecred("uninstall", _settings(tmp_path))
            assert code == 0, out
            assert not (node.root / "etc/sysconfig/kubelet").exists()
        finally:
            node.sh("rm", "-f", dropin)
            node.sh("systemctl", "daemon-reload")


@pytest.fixture(scope="module")
def api() -> Iterator[Cluster]:
    with running() as cluster:
        cluster.add_node("node-1")
        yield cluster


def _agent(node: Node, api: Cluster, settings: Path) -> tuple[int, str]:
    """`nodecred agent --once` as the DaemonSet runs it: in the node's PID namespace, root at /host."""
    return node.pod(
        "agent", "--once", "--root", "/host", "--settings", str(settings), "--binary", str(FROZEN),
        f"--server={api.url}", env={"NODE_NAME": "node-1", "POD_NAMESPACE": "nodecred-system"},
    )  # fmt: skip


class TestAgentOnTheNode:
    """The agent end to end on the same node, reporting to the emulator (after the host cases)."""

    def test_install_then_a_rerun_writes_nothing(self, node: Node, api: Cluster, tmp_path: Path) -> None:
        old_pid, _ = node.kubelet()
        code, out = _agent(node, api, _settings(tmp_path))
        assert (code, out.strip().splitlines()[-1]) == (0, "Installed"), out
        notes = api.node("node-1")["metadata"]["annotations"]
        assert notes["nodecred.io/state"] == "Installed"
        assert notes["nodecred.io/message"] == "applied; kubelet restarted and verified"
        assert node.kubelet()[0] != old_pid
        writes = len(api.emulator.writes)
        code, out = _agent(node, api, _settings(tmp_path))
        assert code == 0, out
        assert len(api.emulator.writes) == writes  # zero API writes

    def test_drift_is_repaired_with_a_restart(self, node: Node, api: Cluster, tmp_path: Path) -> None:
        (node.root / "etc/default/kubelet").write_text("KUBELET_EXTRA_ARGS=\n")  # a kubeadm upgrade, say
        pid, _ = node.kubelet()
        code, out = _agent(node, api, _settings(tmp_path))
        assert code == 0, out
        assert node.kubelet()[0] != pid
        assert "--image-credential-provider-config" in (node.root / "etc/default/kubelet").read_text()
        reasons = [e["reason"] for e in sorted(api.events(), key=lambda e: e["metadata"]["name"])]
        assert reasons[-2:] == ["Restarting", "Installed"]

    def test_rollback_is_reported(self, node: Node, api: Cluster, tmp_path: Path) -> None:
        (node.root / "etc/standin/reject-pattern").write_text("*.*.*.*.*\n")
        try:
            code, out = _agent(node, api, _settings(tmp_path, match='["*", "*.*.*.*.*"]', timeout="15s"))
        finally:
            (node.root / "etc/standin/reject-pattern").unlink()
        assert code == 1, out
        notes = api.node("node-1")["metadata"]
        assert notes["annotations"]["nodecred.io/state"] == "RolledBack"
        assert "panic: cannot compile matchImages pattern" in notes["annotations"]["nodecred.io/message"]
        assert notes["labels"]["nodecred.io/ready"] == "false"
        assert any(e["reason"] == "RolledBack" and e["type"] == "Warning" for e in api.events())
        assert healthz()

    def test_uninstall_mode(self, node: Node, api: Cluster, tmp_path: Path) -> None:
        api.set_mode("nodecred-system", "nodecred-mode", "uninstall")
        code, out = _agent(node, api, _settings(tmp_path))
        assert (code, out.strip().splitlines()[-1]) == (0, "Uninstalled"), out
        assert node.original == _files(node.root)
        assert api.node("node-1")["metadata"]["annotations"]["nodecred.io/state"] == "Uninstalled"
        assert healthz()


# -- the container image, run as the chart runs it ------------------------------------------------

IMAGE = os.environ.get("NODECRED_IMAGE", "nodecred:dev")
CHART_SECRET = "chart-delivered-pw"


@dataclass
class NodeDocker:
    """A Docker engine whose PID namespace is the node's, so `docker run --pid=host` is the pod's
    hostPID: PID 1 is the node's systemd. (The engine gets a /proc of that namespace in a mount
    namespace of its own; its data root is private to the test.)"""

    process: subprocess.Popen[bytes]
    socket: str

    def docker(self, *argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "-H", f"unix://{self.socket}", *argv],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def node_docker(node: Node, tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeDocker]:
    main_engine = subprocess.run(["docker", "image", "inspect", IMAGE], capture_output=True, check=False)
    assert main_engine.returncode == 0, f"no image {IMAGE}: run `make image` (make test does)"
    work = tmp_path_factory.mktemp("node-docker")
    socket = str(work / "docker.sock")
    process = subprocess.Popen(
        ["nsenter", "-t", str(node.pid), "-p", "--", "unshare", "-m", "--propagation", "private",
         "--mount-proc", "--", "dockerd", "--data-root", str(work / "data"), "--exec-root", str(work / "exec"),
         "--pidfile", str(work / "pid"), "-H", f"unix://{socket}", "--bridge=none", "--iptables=false",
         "--ip-masq=false"],
        stdout=(work / "log").open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    engine = NodeDocker(process, socket)
    try:
        deadline = time.monotonic() + 60
        while engine.docker("info").returncode != 0:
            assert time.monotonic() < deadline, (work / "log").read_text()[-2000:]
            time.sleep(0.5)
        saved = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            ["docker", "-H", f"unix://{socket}", "load", "-q"],
            stdin=saved.stdout,
            capture_output=True,
            check=False,
        )
        assert saved.wait() == 0
        assert loaded.returncode == 0, loaded.stderr
        yield engine
    finally:
        os.killpg(process.pid, 15)
        process.wait(60)
        shutil.rmtree(work, ignore_errors=True)


def _pod(tmp_path: Path, node: Node) -> tuple[list[str], list[str]]:
    """`docker run` flags and the container args of the chart's DaemonSet, rendered by real helm."""
    import base64

    import yaml

    from tests.chart.test_chart import one, render

    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "provider": {
                    "registries": [
                        {
                            "match": ["registry.example.com"],
                            "static": {
                                "username": "robot",
                                "passwordFile": "/etc/nodecred/secrets/chart-registry",
                            },
                            "probeImage": "registry.example.com/probe:1",
                        }
                    ]
                },
                "secrets": {"data": {"chart-registry": CHART_SECRET}},
                "restart": {"timeoutSeconds": 60},
            }
        )
    )
    docs = render(str(values))
    settings = tmp_path / "settings"
    settings.mkdir()
    for suffix, key in (("-agent", "agent.yaml"), ("-provider", "provider.yaml")):
        (settings / key).write_text(one(docs, "ConfigMap", suffix)["data"][key])
    secret = one(docs, "Secret")["data"]
    secret_volume(tmp_path / "secrets", {k: base64.b64decode(v) for k, v in secret.items()})
    pod = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    flags = ["--pid=host", "--network=host", "--read-only"]  # hostPID, hostNetwork, readOnlyRootFilesystem
    # privileged, as far as the agent needs it (this machine refuses --privileged): nsenter into PID 1.
    flags += ["--cap-add=SYS_ADMIN", "--cap-add=SYS_PTRACE", "--security-opt=seccomp=unconfined"]
    for mount in container["volumeMounts"]:
        volume = volumes[mount["name"]]
        suffix = ":ro" if mount.get("readOnly") else ""
        if "hostPath" in volume:
            source = str(node.root / volume["hostPath"]["path"].lstrip("/"))
        elif "emptyDir" in volume:
            flags.append(f"--tmpfs={mount['mountPath']}")
            continue
        else:
            source = str(settings if mount["name"] == "settings" else tmp_path / "secrets")
        flags.append(f"--volume={source}:{mount['mountPath']}{suffix}")
    flags += ["--env=NODE_NAME=node-1", "--env=POD_NAMESPACE=kube-system"]  # the downward API
    return flags, container["args"]


class TestImageOnTheNode:
    """The image `make image` builds, run with the chart's DaemonSet spec (args, mounts, env, read-only
    root) against the same node: install with a Secret delivered and probed, then the pre-delete hook
    and uninstall mode."""

    def test_install_from_the_image(self, node: Node, node_docker: NodeDocker, tmp_path: Path) -> None:
        flags, args = _pod(tmp_path, node)
        old_pid, _ = node.kubelet()
        with running() as cluster:
            cluster.add_node("node-1")
            run = node_docker.docker("run", "--rm", *flags, IMAGE, *args, "--once", f"--server={cluster.url}")
            assert (run.returncode, run.stdout.strip()) == (0, "Installed"), run.stdout + run.stderr
            notes = cluster.node("node-1")["metadata"]["annotations"]
        assert notes["nodecred.io/state"] == "Installed"
        assert json.loads(notes["nodecred.io/probe"]) == {"registry.example.com": "ok"}
        pid, state = node.kubelet()
        assert (state, pid != old_pid) == ("active", True)
        secret = node.root / "etc/nodecred/secrets/chart-registry"
        assert secret.read_text() == CHART_SECRET
        assert secret.stat().st_mode & 0o777 == 0o600
        log = node.journal()
        assert "provider nodecred-provider answered for registry.example.com/team/app:1.0" in log
        assert CHART_SECRET not in log + run.stdout + run.stderr + json.dumps(notes)

    def test_hook_and_uninstall_mode_from_the_image(
        self, node: Node, node_docker: NodeDocker, tmp_path: Path
    ) -> None:
        flags, args = _pod(tmp_path, node)
        from nodecred.agent.kube import Kube, api_client
        from tests.chart.test_chart import one, render

        hook_args = one(render(), "Job")["spec"]["template"]["spec"]["containers"][0]["args"]
        with running() as cluster:
            linux = {"kubernetes.io/os": "linux"}  # the chart's nodeSelector, which the hook selects by
            cluster.add_node("node-1", linux)
            cluster.add_node("node-2", linux)  # no agent ever ran there: nothing to wait for
            cluster.add_node("windows-1", {"kubernetes.io/os": "windows"})  # not the DaemonSet's
            installed = {"metadata": {"annotations": {"nodecred.io/state": "Installed"}}}
            Kube(api_client(host=cluster.url)).patch_node("node-1", installed)  # as the install left it
            hook = subprocess.Popen(
                ["docker", "-H", f"unix://{node_docker.socket}", "run", "--rm", "--network=host", "--user=65534",
                 "--read-only", IMAGE, *hook_args, f"--server={cluster.url}", "--timeout=120s"],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            deadline = time.monotonic() + 60
            while (cluster_mode := _mode(cluster)) != "uninstall":
                assert hook.poll() is None, hook.communicate()[0]
                assert time.monotonic() < deadline
                time.sleep(0.2)
            run = node_docker.docker("run", "--rm", *flags, IMAGE, *args, "--once", f"--server={cluster.url}")
            assert (run.returncode, run.stdout.strip()) == (0, "Uninstalled"), run.stdout + run.stderr
            out, _ = hook.communicate(timeout=120)
        assert cluster_mode == "uninstall"
        assert hook.returncode == 0, out
        assert "1/2 nodes uninstalled; waiting for node-1" in out
        assert out.rstrip().endswith("2/2 nodes uninstalled")
        assert _files(node.root) == node.original
        assert not (node.root / "etc/nodecred/secrets/chart-registry").exists()
        assert node.kubelet()[1] == "active"
        assert healthz()


def _mode(cluster: Cluster) -> str:
    from nodecred.agent.kube import Kube, api_client

    data = Kube(api_client(host=cluster.url)).configmap_data("kube-system", "nodecred-mode") or {}
    return data.get("mode", "")
