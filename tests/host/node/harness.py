"""A simulated node for the host tests and the demo: debootstrapped Debian with systemd, booted with
`systemd-nspawn -b --register=no --keep-unit`, running a kubeadm-style kubelet stand-in unit.

The node shares this machine's network (its kubelet's /healthz is 127.0.0.1:10248 here), so only one
runs at a time.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.host.fixtures import KUBEADM_DROPIN, KUBEADM_FLAGS, KUBELET_SERVICE

ROOT = Path(__file__).resolve().parents[3]
FROZEN = ROOT / "dist" / "nodecred-provider"
NODECRED = str(Path(sys.executable).parent / "nodecred")
MIRROR = os.environ.get("NODECRED_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECRET = "node-registry-pw"


def _write(root: Path, path: str, text: str, mode: int = 0o644) -> None:
    full = root / path.lstrip("/")
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_text(text)
    full.chmod(mode)


def build_node(root: Path) -> None:
    """Debian with systemd, python3 and a kubelet stand-in laid out as kubeadm's packages do."""
    subprocess.run(
        ["debootstrap", "--variant=minbase", "--include=systemd,systemd-sysv,dbus,python3,python3-yaml",
         "bookworm", str(root), MIRROR],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    _write(
        root, "/lib/systemd/system/kubelet.service", KUBELET_SERVICE.replace("RestartSec=10", "RestartSec=1")
    )
    _write(
        root,
        "/etc/systemd/system/kubelet.service.d/10-kubeadm.conf",
        KUBEADM_DROPIN.format(user_file="/etc/default/kubelet").replace(
            "/usr/bin/kubelet", "/usr/local/bin/kubelet"
        ),
    )
    _write(root, "/var/lib/kubelet/kubeadm-flags.env", KUBEADM_FLAGS)
    _write(root, "/etc/default/kubelet", "KUBELET_EXTRA_ARGS=\n")
    wants = root / "etc/systemd/system/multi-user.target.wants"
    wants.mkdir(parents=True, exist_ok=True)
    (wants / "kubelet.service").symlink_to("/lib/systemd/system/kubelet.service")
    shutil.copy(Path(__file__).parent / "kubelet_standin.py", root / "usr/local/bin/kubelet")
    (root / "usr/local/bin/kubelet").chmod(0o755)
    package = root / "opt/standin/nodecred"
    package.mkdir(parents=True)
    for name in ("__init__.py", "errors.py"):
        shutil.copy(ROOT / "installer/nodecred" / name, package / name)
    shutil.copytree(ROOT / "installer/nodecred/kubelet", package / "kubelet")
    secrets = root / "etc/nodecred/secrets"
    secrets.mkdir(parents=True, mode=0o700)
    _write(root, "/etc/nodecred/secrets/registry", SECRET + "\n", 0o600)


@dataclass
class Node:
    root: Path
    nspawn: subprocess.Popen[bytes]
    pid: int  # the node's systemd, as this machine sees it
    original: dict[str, bytes] = field(default_factory=dict)  # the kubelet files before nodecred

    def sh(self, *argv: str, check: bool = True) -> str:
        """A command inside the node (all its namespaces)."""
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-a", "--", *argv], capture_output=True, text=True, check=False
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{argv}: {result.returncode} {result.stdout} {result.stderr}")
        return result.stdout

    def kubelet(self) -> tuple[int, str]:
        props = dict(
            line.split("=", 1)
            for line in self.sh(
                "systemctl", "show", "-p", "MainPID,ActiveState", "kubelet.service"
            ).splitlines()
        )
        return int(props["MainPID"]), props["ActiveState"]

    def cmdline(self, pid: int) -> list[str]:
        """A process's argv, PID as the node numbers it."""
        return self.sh("cat", f"/proc/{pid}/cmdline").split("\0")

    def journal(self) -> str:
        return self.sh("journalctl", "-u", "kubelet.service", "--no-pager", "-o", "cat", check=False)

    def pod(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
        """`nodecred ARGS` as the DaemonSet's pod runs it: in the node's PID namespace (hostPID), with a
        /proc of it and the node's root at /host."""
        inner = f"mkdir -p /host && mount --bind {self.root} /host && exec {NODECRED} " + " ".join(
            shlex.quote(a) for a in args
        )
        result = subprocess.run(
            ["nsenter", "-t", str(self.pid), "-p", "--", "unshare", "-m", "--mount-proc", "--", "sh", "-c", inner],
            capture_output=True, text=True, timeout=300, check=False, env={**os.environ, **(env or {})},
        )  # fmt: skip
        return result.returncode, result.stdout + result.stderr

    def nodecred(self, action: str, settings: Path) -> tuple[int, str]:
        """`nodecred host ACTION` on the node, as the pod would run it."""
        binary = ["--binary", str(FROZEN)] if action == "apply" else []
        return self.pod(
            "host",
            action,
            "--root",
            "/host",
            "--settings",
            str(settings),
            "--restart-mode",
            "systemd",
            *binary,
        )


def healthz() -> bool:
    try:
        with urllib.request.urlopen("http://127.0.0.1:10248/healthz", timeout=2) as response:
            return bool(response.read() == b"ok")
    except OSError:
        return False


@contextmanager
def booted(root: Path) -> Iterator[Node]:
    """Boot the node built at ROOT; wait for its systemd and a healthy kubelet; power it off after."""
    nspawn = subprocess.Popen(
        ["systemd-nspawn", "-D", str(root), "-b", "--register=no", "--keep-unit", "--quiet"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    pid = 0
    try:
        for _ in range(100):
            children = subprocess.run(
                ["pgrep", "-P", str(nspawn.pid)], capture_output=True, text=True, check=False
            ).stdout.split()
            if children:
                pid = int(children[0])
                break
            time.sleep(0.1)
        assert pid, "systemd-nspawn started no init"
        node = Node(root, nspawn, pid)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if node.sh("systemctl", "is-system-running", check=False).strip() in ("running", "degraded"):
                break
            time.sleep(0.5)
        while time.monotonic() < deadline and not (healthz() and node.kubelet()[1] == "active"):
            time.sleep(0.5)
        assert healthz(), node.journal()
        yield node
    finally:
        subprocess.run(
            ["nsenter", "-t", str(pid), "-a", "--", "systemctl", "poweroff"], capture_output=True, check=False
        )
        try:
            nspawn.wait(timeout=60)
        except subprocess.TimeoutExpired:
            nspawn.kill()
            nspawn.wait()
