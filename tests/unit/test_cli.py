"""`nodecred config validate|explain`: outputs, exit codes, and one clear line for every bad input."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nodecred.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NODECRED = str(Path(sys.executable).parent / "nodecred")


def run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out)
    return code, out.getvalue()


def run_process(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([NODECRED, *argv], capture_output=True, text=True, timeout=60, check=False)


def test_validate_prints_count_and_hash() -> None:
    code, out = run("config", "validate", str(EXAMPLES / "eks-config.json"))
    assert code == 0
    assert out.startswith("valid: 1 provider, hash sha256:")


def test_validate_directory_merges_files() -> None:
    code, out = run("config", "validate", str(EXAMPLES / "config.d"))
    assert (code, out.split(",")[0]) == (0, "valid: 2 providers")


def test_directory_needs_kubelet_1_34() -> None:
    code, out = run("config", "validate", str(EXAMPLES / "config.d"), "--kubelet-version", "1.33")
    assert code == 1
    assert "is a directory" in out


def test_invalid_config_prints_the_kubelets_error_and_exits_1() -> None:
    code, out = run("config", "validate", str(EXAMPLES / "invalid" / "token-attributes-v1beta1.yaml"))
    assert code == 1
    assert 'strict decoding error: unknown field "providers[0].tokenAttributes"' in out


def test_token_attributes_follow_the_feature_gate(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n"
        "- name: p\n  matchImages: [r.io]\n  defaultCacheDuration: 1m\n"
        "  apiVersion: credentialprovider.kubelet.k8s.io/v1\n  tokenAttributes:\n"
        "    serviceAccountTokenAudience: aud\n    cacheType: Token\n    requireServiceAccount: true\n"
    )
    assert run("config", "validate", str(path))[0] == 0
    code, out = run(
        "config",
        "validate",
        str(path),
        "--feature-gates",
        "KubeletServiceAccountTokenForCredentialProviders=false",
    )
    assert code == 1
    assert "feature gate is disabled" in out


def test_explain_lists_providers_in_kubelet_order() -> None:
    code, out = run(
        "config",
        "explain",
        str(EXAMPLES / "config.d"),
        "123456789012.dkr.ecr.us-west-2.amazonaws.com/app:v1",
    )
    assert code == 0
    lines = out.splitlines()
    assert lines[1].startswith("runs     ecr-credential-provider")
    assert any(line.startswith("skipped  nodecred-provider") for line in lines)
    assert "1 of 2 providers would run" in lines[-1]


def test_explain_says_why_nothing_runs() -> None:
    code, out = run("config", "explain", str(EXAMPLES / "eks-config.json"), "quay.io/team/app")
    assert code == 1
    assert "label count differs" in out
    assert "0 of 1 providers would run" in out


def test_explain_normalises_docker_hub_images() -> None:
    code, out = run("config", "explain", str(EXAMPLES / "nodecred-config.yaml"), "nginx:1.25")
    assert code == 0
    assert "nginx:1.25 -> docker.io/library/nginx" in out


def _bomb() -> str:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        cur = chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]")
    lines.append("kind: CredentialProviderConfig")
    return "\n".join(lines) + "\n"


BAD_FILES = [
    ("non-UTF-8", b"kind: Cred\xff\xfeConfig\n", "invalid UTF-8"),
    ("10 MB", b"# " + b"x" * (10 * 1024 * 1024) + b"\n", "is refused"),
    ("billion laughs", _bomb().encode(), "excessive aliasing"),
    ("JSON array", b'[{"kind": "CredentialProviderConfig"}]', "cannot unmarshal array"),
    ("empty file", b"", "Object 'Kind' is missing"),
    (
        "number duration",
        b"apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n"
        b"- {name: p, matchImages: [r.io], defaultCacheDuration: 10, apiVersion: credentialprovider.kubelet.k8s.io/v1}\n",
        "defaultCacheDuration",
    ),
    (
        "duplicate key",
        b"apiVersion: kubelet.config.k8s.io/v1\nkind: CredentialProviderConfig\nproviders:\n"
        b"- name: p\n  name: q\n  matchImages: [r.io]\n  defaultCacheDuration: 1m\n"
        b"  apiVersion: credentialprovider.kubelet.k8s.io/v1\n",
        'key "name" already set',
    ),
    ("broken YAML", b"providers: [\n", "yaml:"),
]


@pytest.mark.parametrize(("name", "data", "message"), BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_files_give_one_line_naming_file_and_problem(
    tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(data)
    result = run_process("config", "validate", str(path))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert str(path) in lines[0]
    assert message in lines[0]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["config", "validate", "/nonexistent/config.yaml"], "no such file or directory"),
        (["config", "validate"], "the following arguments are required"),
        (
            ["config", "validate", str(EXAMPLES / "eks-config.json"), "--kubelet-version", "one"],
            "not a version",
        ),
        (
            ["config", "validate", str(EXAMPLES / "eks-config.json"), "--kubelet-version", "1.19"],
            "predates",
        ),
        (
            [
                "config",
                "validate",
                str(EXAMPLES / "eks-config.json"),
                "--feature-gates",
                "Bogus=true",
            ],
            "no gate",
        ),
        (["config", "explain", str(EXAMPLES / "eks-config.json"), "Bad Image"], "IMAGE"),
        (
            [
                "config",
                "explain",
                str(EXAMPLES / "invalid" / "token-attributes-v1beta1.yaml"),
                "r.io/x",
            ],
            "would not start",
        ),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], message: str) -> None:
    result = run_process(*argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert message in result.stderr


@pytest.mark.parametrize(("dir_mode", "message"), [(0o755, "not readable"), (0o700, "permission denied")])
def test_unreadable_path_is_a_usage_error(dir_mode: int, message: str) -> None:
    # Run as nobody (root reads everything), under a /tmp directory nobody can traverse.
    top = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        top.chmod(0o755)
        directory = top / "etc"
        directory.mkdir()
        path = directory / "config.yaml"
        path.write_text("x")
        path.chmod(0)
        directory.chmod(dir_mode)
        argv = [
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            sys.executable,
            "-m",
            "nodecred.cli",
        ]
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2] / "installer")}
        result = subprocess.run(
            [*argv, "config", "validate", str(path)],
            capture_output=True,
            text=True,
            check=False,
            env=env,
        )
    finally:
        shutil.rmtree(top)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr


def test_version() -> None:
    result = run_process("version")
    assert result.returncode == 0
    assert result.stdout.startswith("nodecred ")
