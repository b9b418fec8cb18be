"""Distribution-specific behaviour and bad input: clear errors, documented exit codes, no byte changed."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecred.cli import main
from nodecred.host.flags import CONFIG_FLAG, flag_values
from tests.host.fixtures import KUBEADM_FLAGS, build, fake_provider_build, secret_volume, tree_bytes
from tests.host.test_profiles import LOCK, kubelet_view

pytestmark = pytest.mark.usefixtures("build_dir")


@pytest.fixture
def build_dir(tmp_path: Path) -> Path:
    return fake_provider_build(tmp_path / "build")


def _host(cmd: str, root: Path, tmp_path: Path, *extra: str) -> int:
    args = ["host", cmd, "--root", str(root), "--restart-mode", "none"]
    if cmd != "uninstall":
        args += ["--binary", str(tmp_path / "build")]
    return main([*args, *extra])


def _same(before: dict[str, bytes | str], root: Path) -> None:
    """No byte changed (the lock file under /run/lock, a tmpfs on a real host, aside)."""
    after = tree_bytes(root)
    after.pop(LOCK, None)
    assert after == {k: v for k, v in before.items() if k != LOCK}


def test_eks_node_keeps_its_ecr_provider(tmp_path: Path) -> None:
    root = build(tmp_path / "host", "eks-al2")
    assert _host("apply", root, tmp_path) == 0
    config = json.loads((root / "etc/eks/image-credential-provider/config.json").read_text())
    assert [p["name"] for p in config["providers"]] == ["ecr-credential-provider", "nodecred-provider"]
    assert config["providers"][0]["matchImages"][0] == "*.dkr.ecr.*.amazonaws.com"
    assert (root / "etc/eks/image-credential-provider/ecr-credential-provider").is_file()
    assert (root / "etc/eks/image-credential-provider/nodecred-provider").is_symlink()
    # The file keeps its JSON form and two-space indentation.
    assert (
        (root / "etc/eks/image-credential-provider/config.json").read_text().startswith('{\n  "apiVersion"')
    )


def test_al2023_plan_says_nodeadm_rewrites_and_drift_restores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "eks-al2023")
    assert _host("plan", root, tmp_path) == 0
    assert (
        "note: nodeadm init rewrites /etc/eks/image-credential-provider/config.json"
        in capsys.readouterr().out
    )
    assert _host("apply", root, tmp_path) == 0
    # The next boot's `nodeadm init` writes its own config.json again.
    from tests.host.fixtures import EKS_ECR_CONFIG

    (root / "etc/eks/image-credential-provider/config.json").write_text(EKS_ECR_CONFIG)
    capsys.readouterr()
    assert _host("plan", root, tmp_path) == 0
    out = capsys.readouterr().out
    assert '+      "name": "nodecred-provider"' in out
    assert out.endswith("restart: yes\n")
    assert _host("apply", root, tmp_path) == 0
    assert "nodecred-provider" in (root / "etc/eks/image-credential-provider/config.json").read_text()


def test_kubeadm_upgrade_rewriting_its_flags_file_keeps_ours(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "kubeadm-deb")
    assert _host("apply", root, tmp_path) == 0
    (root / "var/lib/kubelet/kubeadm-flags.env").write_text(KUBEADM_FLAGS.replace("3.10", "3.11"))
    argv, _config, _ = kubelet_view(root, "kubeadm-deb")
    assert flag_values(argv, CONFIG_FLAG) == ["/etc/nodecred/credential-provider-config.yaml"]
    assert "--pod-infra-container-image=registry.k8s.io/pause:3.11" in argv
    capsys.readouterr()
    assert _host("plan", root, tmp_path) == 0
    assert capsys.readouterr().out.endswith("unit: kubelet.service\nrestart: no\n")


def test_user_flags_in_kubelet_extra_args_survive(tmp_path: Path) -> None:
    root = build(tmp_path / "host", "kubeadm-rpm")
    assert _host("apply", root, tmp_path) == 0
    argv, _, _ = kubelet_view(root, "kubeadm-rpm")
    assert argv[-4:-2] == ["--node-labels=tier=batch", "--max-pods=58"]


def test_rke2_server_is_not_restarted_without_opt_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "rke2-server")
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path) == 3
    assert "allowControlPlaneRestart" in capsys.readouterr().out
    _same(before, root)


# -- bad input ---------------------------------------------------------------------------------


def test_unsupported_layouts_exit_3_untouched(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "host"
    (root / "etc").mkdir(parents=True)
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path) == 3
    assert "no kubelet found" in capsys.readouterr().out
    unit = root / "etc/systemd/system/kubelet.service"
    unit.parent.mkdir(parents=True)
    unit.write_text("[Service]\nExecStart=/usr/bin/kubelet --config=/etc/k.yaml\n")
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path) == 3
    assert "passes no $VARIABLE from an EnvironmentFile" in capsys.readouterr().out
    _same(before, root)


def test_kubelet_unit_whose_required_environment_file_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "systemd")
    (root / "etc/kubernetes/kubelet.env").unlink()
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path) == 3
    assert "EnvironmentFile=/etc/kubernetes/kubelet.env does not exist" in capsys.readouterr().out
    _same(before, root)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read the existing file"),
        (
            '{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": 3}',
            "providers",
        ),
        (
            '{"apiVersion": "kubelet.config.k8s.io/v1", "kind": "CredentialProviderConfig", "providers": '
            '[{"name": "ecr-credential-provider", "matchImages": [], "apiVersion": "credentialprovider.kubelet.k8s.io/v1"}]}',
            "the kubelet would refuse",
        ),
    ],
)
def test_corrupt_existing_provider_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    root = build(tmp_path / "host", "eks-al2")
    (root / "etc/eks/image-credential-provider/config.json").write_text(content)
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path) == 1
    out = capsys.readouterr().out
    assert out.startswith("Failed: ")
    assert message in out
    assert "/etc/eks/image-credential-provider/config.json" in out
    _same(before, root)


def test_unreadable_existing_config_as_a_non_root_user(tmp_path: Path) -> None:
    root = build(tmp_path / "host", "eks-al2")
    config = root / "etc/eks/image-credential-provider/config.json"
    config.chmod(0o600)
    for folder in [tmp_path, *tmp_path.parents]:
        folder.chmod(folder.stat().st_mode | 0o005) if folder != Path("/") else None
    subprocess.run(["chmod", "-R", "o+rX", str(root), str(tmp_path / "build")], check=True)
    config.chmod(0o600)
    before = tree_bytes(root)
    program = "import sys; from nodecred.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-c",
            program,
            "host",
            "plan",
            "--root",
            str(root),
            "--restart-mode",
            "none",
            "--binary",
            str(tmp_path / "build"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result
    assert "cannot read /etc/eks/image-credential-provider/config.json: Permission denied" in result.stdout
    assert "Traceback" not in result.stderr
    _same(before, root)


@contextlib.contextmanager
def _mounted(target: Path, *options: str) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", *options, "tmpfs", str(target)], check=True)
    try:
        yield
    finally:
        subprocess.run(["umount", str(target)], check=True)


def test_read_only_target_fails_and_rolls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build(tmp_path / "host", "kubeadm-deb")
    default = root / "etc/default"
    saved = (default / "kubelet").read_bytes()
    (default / "kubelet").unlink()
    with _mounted(default, "-o", "size=1m"):
        (default / "kubelet").write_bytes(saved)
        subprocess.run(["mount", "-o", "remount,ro", str(default)], check=True)
        before = tree_bytes(root)
        assert _host("apply", root, tmp_path) == 1
        out = capsys.readouterr().out
        assert out.startswith("Failed: /etc/default/kubelet: Read-only file system")
        assert "rolled back" in out
        _same(before, root)


def test_full_disk_fails_and_rolls_back(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build(tmp_path / "host", "kubeadm-deb")
    (tmp_path / "build" / "_internal" / "big.so").write_bytes(b"\0" * 256 * 1024)
    with _mounted(root / "opt", "-o", "size=128k"):
        before = tree_bytes(root)
        assert _host("apply", root, tmp_path) == 1
        out = capsys.readouterr().out
        assert "No space left on device" in out
        _same(before, root)


def test_config_directory_gets_our_own_file_beside_theirs(tmp_path: Path) -> None:
    root = build(tmp_path / "host", "systemd-configdir")
    assert _host("apply", root, tmp_path) == 0
    directory = root / "etc/kubernetes/credential-providers"
    assert sorted(p.name for p in directory.iterdir()) == ["10-ecr.yaml", "90-nodecred.yaml"]
    assert "ecr-credential-provider" not in (directory / "90-nodecred.yaml").read_text()
    assert (root / "usr/libexec/kubernetes/credential-providers/nodecred-provider").is_symlink()


def test_secrets_land_root_only_are_never_shown_and_go_with_uninstall(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "kubeadm-deb")
    before = tree_bytes(root)
    volume = secret_volume(tmp_path / "vol", {"harbor": b"s3cret-harbor", "oci-key.pem": b"KEYDATA"})
    assert _host("plan", root, tmp_path, "--secrets", str(volume)) == 0
    out = capsys.readouterr().out
    assert "write /etc/nodecred/secrets/harbor (secret, 13 bytes, mode 0600; not shown)" in out
    assert "s3cret" not in out
    assert "KEYDATA" not in out
    assert _host("apply", root, tmp_path, "--secrets", str(volume)) == 0
    folder = root / "etc/nodecred/secrets"
    assert folder.stat().st_mode & 0o777 == 0o700
    assert (folder / "harbor").read_text() == "s3cret-harbor"
    assert (folder / "harbor").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["harbor", "oci-key.pem"]
    # A key that leaves the Secret leaves the host; a rotated one is rewritten, with no restart.
    (volume / "oci-key.pem").unlink()
    (volume / "..data" / "harbor").write_text("rotated")
    capsys.readouterr()
    assert _host("plan", root, tmp_path, "--secrets", str(volume)) == 0
    out = capsys.readouterr().out
    assert "remove /etc/nodecred/secrets/oci-key.pem" in out
    assert out.endswith("restart: no\n")
    assert _host("apply", root, tmp_path, "--secrets", str(volume)) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["harbor"]
    assert (folder / "harbor").read_text() == "rotated"
    assert _host("uninstall", root, tmp_path) == 0
    _same(before, root)


def test_a_bad_secret_key_or_volume_is_refused_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build(tmp_path / "host", "kubeadm-deb")
    before = tree_bytes(root)
    assert _host("apply", root, tmp_path, "--secrets", str(tmp_path / "absent")) == 1
    assert "--secrets" in capsys.readouterr().out
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "bad key").write_text("x")
    assert _host("apply", root, tmp_path, "--secrets", str(volume)) == 1
    assert "secret key 'bad key'" in capsys.readouterr().out
    _same(before, root)


def test_a_registry_with_a_port_gets_its_pattern_in_the_kubelet_entry(tmp_path: Path) -> None:
    """The kubelet sends an image with a port only to a pattern with that port: `*.*.*.*` alone never
    matches 127.0.0.1:5000/app, so the default entry adds the registries' host:port patterns."""
    root = build(tmp_path / "host", "kubeadm-deb")
    settings = tmp_path / "agent.yaml"
    settings.write_text(
        "provider:\n  apiVersion: nodecred.io/v1alpha1\n  kind: ProviderSettings\n  registries:\n"
        "    - match: ['127.0.0.1:5000', registry.example.com]\n"
        "      static: {username: demo, passwordFile: /etc/nodecred/secrets/registry}\n"
    )
    assert _host("apply", root, tmp_path, "--settings", str(settings)) == 0
    config = str(root / "etc/nodecred/credential-provider-config.yaml")
    assert main(["config", "explain", config, "127.0.0.1:5000/demo/app:1.0"]) == 0
    assert main(["config", "explain", config, "127.0.0.1:6000/demo/app:1.0"]) == 1
    assert main(["config", "explain", config, "registry.example.com/app"]) == 0
