"""Every profile, golden: plan -> apply -> the kubelet's effective command line -> re-plan -> uninstall."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

from nodecred.cli import main
from nodecred.host import units
from nodecred.host.flags import BIN_DIR_FLAG, CONFIG_FLAG, args_file_words, flag_values
from nodecred.host.install import HostRun, Options, binary_digest
from nodecred.host.plan import Binary
from nodecred.host.settings import PROVIDER_NAME, HostSettings
from nodecred.kubelet.load import read_path
from tests.host.fixtures import EXPECTED, TREES, build, fake_provider_build, tree_bytes

LOCK = "/run/lock/nodecred.lock"


def _resolve(root: Path, path: str, hops: int = 10) -> Path:
    """PATH on the host under ROOT, following absolute symlinks the way the host would."""
    full = root / path.lstrip("/")
    for _ in range(hops):
        parts = Path(path).parts
        for i in range(2, len(parts) + 1):
            sub = root / Path(*parts[1:i])
            if sub.is_symlink():
                target = os.readlink(sub)
                base = target if target.startswith("/") else str(Path("/", *parts[1 : i - 1], target))
                path = str(Path(base, *parts[i:]))
                break
        else:
            return root / path.lstrip("/")
    return full


def kubelet_view(root: Path, name: str) -> tuple[list[str], str, str]:
    """(argv, config, bin dir) the kubelet of tree NAME gets when its unit next starts."""
    unit = EXPECTED[name][1]

    def read(path: str) -> bytes | None:
        full = root / path.lstrip("/")
        return full.read_bytes() if full.is_file() else None

    def listdir(path: str) -> list[str]:
        full = root / path.lstrip("/")
        return sorted(os.listdir(full)) if full.is_dir() else []

    if name == "microk8s":
        argv = args_file_words((root / "var/snap/microk8s/current/args/kubelet").read_text())
    elif unit.startswith(("k3s", "rke2")):
        # The embedded kubelet gets the flags only when both built-in paths exist (k3s agent.go).
        distro = "k3s" if unit.startswith("k3s") else "rke2"
        config = yaml.safe_load((root / f"etc/rancher/{distro}/config.yaml").read_text()) or {}
        cfg = config.get(
            "image-credential-provider-config", "/var/lib/rancher/credentialprovider/config.yaml"
        )
        bins = config.get("image-credential-provider-bin-dir", "/var/lib/rancher/credentialprovider/bin")
        present = (root / cfg.lstrip("/")).is_file() and (root / bins.lstrip("/")).is_dir()
        argv = [f"{CONFIG_FLAG}={cfg}", f"{BIN_DIR_FLAG}={bins}"] if present else []
    else:
        service = units.load_service(unit, read, listdir)
        assert service is not None
        argv = units.effective_argv(service, read)
    configs, bins = flag_values(argv, CONFIG_FLAG), flag_values(argv, BIN_DIR_FLAG)
    return argv, (configs[-1] if configs else ""), (bins[-1] if bins else "")


def _apply(root: Path, build_dir: Path, *extra: str) -> int:
    return main(
        ["host", "apply", "--root", str(root), "--restart-mode", "none", "--binary", str(build_dir), *extra]
    )


@pytest.mark.parametrize("name", sorted(TREES))
def test_install_is_exact_idempotent_and_uninstall_gives_back_every_byte(
    tmp_path: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", name)
    build_dir = fake_provider_build(tmp_path / "build")
    before = tree_bytes(root)
    dirs_before = _dirs(root)
    settings = ["--settings", str(_allow_server(tmp_path))] if name == "rke2-server" else []

    assert _apply(root, build_dir, *settings) == 0
    out = capsys.readouterr().out
    assert out.startswith("Installed: applied; restart pending"), out
    assert f"(profile {EXPECTED[name][0]})" in out

    argv, config, bin_dir = kubelet_view(root, name)
    for flag in (CONFIG_FLAG, BIN_DIR_FLAG):
        assert len(flag_values(argv, flag)) == 1, (flag, argv)
    loaded = read_path(str(_resolve(root, config)))  # raises LoadError as the kubelet would exit
    assert PROVIDER_NAME in loaded.config.names()
    for provider in loaded.config.names():
        binary = _resolve(root, f"{bin_dir}/{provider}")
        assert binary.is_file(), f"no binary for {provider} at {bin_dir}"
        assert os.access(binary, os.X_OK)

    run = HostRun(
        HostSettings(allow_control_plane_restart=True), Options(root=str(root), restart_mode="none")
    )
    planned, _ = run.plan("install", Binary(str(build_dir), binary_digest(str(build_dir))))
    assert not isinstance(planned, str)
    assert getattr(planned, "empty", False), planned

    assert main(["host", "uninstall", "--root", str(root), "--restart-mode", "none", *settings]) == 0
    after = tree_bytes(root)
    after.pop(LOCK, None)
    assert after == before
    assert _dirs(root) - {"/run", "/run/lock"} == dirs_before  # nodecred's own directories are gone too


def _dirs(root: Path) -> set[str]:
    return {"/" + str(p.relative_to(root)) for p in root.rglob("*") if p.is_dir() and not p.is_symlink()}


def _allow_server(tmp_path: Path) -> Path:
    path = tmp_path / "agent.yaml"
    path.write_text("restart:\n  allowControlPlaneRestart: true\n")
    return path
