"""The frozen build itself: independent of the host's libc, answers inside an empty root."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecred.kubelet.codec import encode_request, parse_response
from tests.provider.clouds import FakeOci
from tests.provider.harness import V1, http_server, provider_binary, write_settings

FROZEN = Path(__file__).resolve().parents[2] / "dist" / "nodecred-provider"


@pytest.fixture
def empty_root(tmp_path: Path) -> Iterator[Path]:
    """A root holding nothing but the provider at /opt/nodecred/provider, /proc and /tmp."""
    assert (FROZEN / "nodecred-provider").exists(), "run `make provider` first (make test does)"
    root = tmp_path / "root"
    (root / "opt" / "nodecred").mkdir(parents=True)
    (root / "proc").mkdir()
    (root / "tmp").mkdir()
    shutil.copytree(FROZEN, root / "opt" / "nodecred" / "provider", symlinks=True)
    subprocess.run(["mount", "-t", "proc", "proc", str(root / "proc")], check=True)
    try:
        yield root
    finally:
        subprocess.run(["umount", str(root / "proc")], check=True)


def exec_in_root(root: Path, settings: str, image: str) -> subprocess.CompletedProcess[bytes]:
    """The provider at /opt/nodecred/provider inside ROOT, as the kubelet execs it, no environment."""
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    argv = [chroot, str(root), "/opt/nodecred/provider/nodecred-provider", "--settings", settings]
    return subprocess.run(
        argv, input=encode_request(image), capture_output=True, timeout=60, env={}, check=False
    )


def test_frozen_provider_answers_in_an_empty_root(empty_root: Path) -> None:
    (empty_root / "tmp" / "pw").write_text("chroot-pw\n")
    (empty_root / "tmp" / "pw").chmod(0o600)
    (empty_root / "tmp" / "provider.yaml").write_text(
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\ncacheDir: /tmp/cache\nregistries:\n"
        "- match: [harbor.example.com]\n  static: {username: robot, passwordFile: /tmp/pw}\n"
    )
    assert not list(empty_root.glob("lib*"))
    assert not (empty_root / "usr").exists()
    result = exec_in_root(empty_root, "/tmp/provider.yaml", "harbor.example.com/team/app")
    assert result.returncode == 0, result.stderr
    auth = parse_response(result.stdout, V1).auth["harbor.example.com"]
    assert (auth.username, auth.password) == ("robot", "chroot-pw")


def test_frozen_binary_loads_no_host_library() -> None:
    assert (FROZEN / "nodecred-provider").exists(), "run `make provider` first (make test does)"
    interp = subprocess.run(
        ["patchelf", "--print-interpreter", str(FROZEN / "nodecred-provider")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert interp == "/opt/nodecred/provider/_internal/ld-linux-x86-64.so.2"
    # Run the relocated copy with the system library paths hidden from its loader.
    env = {"LD_DEBUG": "libs"}
    result = subprocess.run(
        [provider_binary(), "--settings", "/nonexistent"],
        input=encode_request("r.io/x"),
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    loaded = [line for line in result.stderr.decode(errors="replace").splitlines() if "calling init:" in line]
    assert loaded, "LD_DEBUG reported no libraries"
    outside = [line for line in loaded if "/_internal/" not in line]
    assert outside == []


def test_only_the_needed_botocore_models_are_frozen() -> None:
    models = {p.name for p in (FROZEN / "_internal" / "botocore" / "data").iterdir() if p.is_dir()}
    assert models == {"ecr", "ecr-public", "sts"}


def test_provider_under_test_is_the_frozen_build() -> None:
    assert os.environ.get("NODECRED_PROVIDER", "").endswith("provider/nodecred-provider")


def test_frozen_oci_signing_works_in_an_empty_root(empty_root: Path) -> None:
    """RSA key generation and signing go through the bundled libcrypto, found with no host files."""
    fake = FakeOci()
    with http_server(fake) as (endpoint, _):
        options = {"metadataEndpoint": endpoint + "/opc/v2", "federationEndpoint": endpoint}
        options["registryEndpoint"] = endpoint
        settings = write_settings(
            empty_root / "tmp" / "provider.json", [{"match": ["*.ocir.io"], "ocir": options}]
        )
        settings.write_text(settings.read_text().replace(str(empty_root / "tmp"), "/tmp"))
        result = exec_in_root(empty_root, "/tmp/provider.json", "iad.ocir.io/ns/app")
    assert result.returncode == 0, result.stderr
    assert parse_response(result.stdout, V1).auth["iad.ocir.io"].password == fake.issued[-1]
    assert fake.errors == []
