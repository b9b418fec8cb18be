"""Fault injection: SIGKILL the host installer at every checkpoint and at random instants.

After every kill the kubelet, were it to start right then, would load a valid config with a
binary for every provider (or no provider flags at all); the next run then converges the host
to fully installed (or, for uninstall, to the original bytes): never a mix.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nodecred.kubelet.load import read_path
from tests.host.fixtures import build, fake_provider_build, tree_bytes
from tests.host.test_profiles import LOCK, _resolve, kubelet_view

NODECRED = str(Path(sys.executable).parent / "nodecred")
JOURNAL = "/var/lib/nodecred/journal.json"


def _cmd(action: str, root: Path, build_dir: Path) -> list[str]:
    argv = [NODECRED, "host", action, "--root", str(root), "--restart-mode", "none"]
    return argv + (["--binary", str(build_dir)] if action == "apply" else [])


def _run(action: str, root: Path, build_dir: Path, crash_at: int = 0) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NODECRED_TEST_CRASH_AT": str(crash_at)}
    return subprocess.run(_cmd(action, root, build_dir), capture_output=True, text=True, env=env, check=False)


def assert_kubelet_could_start(root: Path, name: str) -> None:
    _argv, config, bin_dir = kubelet_view(root, name)
    if not config:
        return
    loaded = read_path(str(_resolve(root, config)))
    for provider in loaded.config.names():
        binary = _resolve(root, f"{bin_dir}/{provider}")
        assert binary.is_file(), f"{provider}: no binary at {bin_dir}"
        assert os.access(binary, os.X_OK), f"{provider}: {binary} is not executable"


def _bytes(root: Path) -> dict[str, bytes | str]:
    out = tree_bytes(root)
    out.pop(LOCK, None)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    base = tmp_path_factory.mktemp("reference")
    build_dir = fake_provider_build(base / "build")
    original = build(base / "original", "kubeadm-deb")
    installed = base / "installed"
    shutil.copytree(original, installed, symlinks=True)
    assert _run("apply", installed, build_dir).returncode == 0
    return {"build": build_dir, "original": original, "installed": installed}


def _fresh(tmp_path: Path, source: object) -> Path:
    root = tmp_path / "host"
    shutil.rmtree(root, ignore_errors=True)
    shutil.copytree(str(source), root, symlinks=True)
    return root


@pytest.mark.parametrize(
    ("action", "start", "goal"), [("apply", "original", "installed"), ("uninstall", "installed", "original")]
)
def test_kill_at_every_checkpoint_then_converge(
    tmp_path: Path, reference: dict[str, object], action: str, start: str, goal: str
) -> None:
    build_dir = Path(str(reference["build"]))
    expected = _bytes(Path(str(reference[goal])))
    killed = 0
    for point in range(1, 500):
        root = _fresh(tmp_path, reference[start])
        result = _run(action, root, build_dir, crash_at=point)
        if result.returncode != -signal.SIGKILL:
            assert result.returncode == 0, result.stdout + result.stderr
            break
        killed += 1
        assert_kubelet_could_start(root, "kubeadm-deb")
        again = _run(action, root, build_dir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _bytes(root) == expected, f"not converged after a kill at checkpoint {point}"
        assert not (root / JOURNAL.lstrip("/")).exists()
    print(f"\n{action}: killed at each of {killed} checkpoints; every run converged")
    assert killed > 20


def test_kill_at_100_random_instants_then_converge(tmp_path: Path, reference: dict[str, object]) -> None:
    build_dir = Path(str(reference["build"]))
    rng = random.Random(20261122)
    started = time.monotonic()
    subprocess.run([NODECRED, "version"], capture_output=True, check=True)
    startup = time.monotonic() - started
    started = time.monotonic()
    assert _run("apply", _fresh(tmp_path, reference["original"]), build_dir).returncode == 0
    duration = time.monotonic() - started
    # Instants from just before the first change to the exit: interpreter start-up is not of interest.
    mid_change = 0
    for round_ in range(100):
        action, start, goal = (
            ("apply", "original", "installed") if round_ % 2 == 0 else ("uninstall", "installed", "original")
        )
        root = _fresh(tmp_path, reference[start])
        process = subprocess.Popen(
            _cmd(action, root, build_dir), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        time.sleep(rng.uniform(startup * 0.9, duration))
        process.send_signal(signal.SIGKILL)
        process.wait()
        mid_change += (root / JOURNAL.lstrip("/")).exists()
        assert_kubelet_could_start(root, "kubeadm-deb")
        again = _run(action, root, build_dir)
        assert again.returncode == 0, again.stdout + again.stderr
        assert _bytes(root) == _bytes(Path(str(reference[goal]))), f"round {round_} did not converge"
    print(f"\n100 random kills, {mid_change} of them mid-change (journal left behind); all converged")
