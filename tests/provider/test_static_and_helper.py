"""Static credentials against a real registry (Debian's docker-registry, htpasswd), credential
helpers on PATH, unmatched images, and every bad input: exit 1, one line, nothing on stdout."""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nodecred.kubelet import goduration
from tests.provider.harness import V1, kubelet_exec, write_settings
from tests.registry import get_v2, running_registry

IMAGE_HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A real distribution registry on 127.0.0.1 with htpasswd (bcrypt) basic auth."""
    with running_registry(tmp_path_factory.mktemp("registry"), "robot", "s3cret-pw") as host:
        yield host, "robot", "s3cret-pw"


def _secret(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


def test_static_credentials_open_a_real_registry(tmp_path: Path, registry: tuple[str, str, str]) -> None:
    host, user, password = registry
    secret = _secret(tmp_path / "harbor", password + "\n")
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": [host], "static": {"username": user, "passwordFile": str(secret)}}]
    )
    response = kubelet_exec(f"{host}/team/app", settings).response()
    auth = response.auth[host]
    assert get_v2(host) == 401
    assert get_v2(host, auth.username, auth.password) == 200
    assert response.cache_duration == 10 * goduration.MINUTE


def test_docker_config_file_serves_its_matching_entry(tmp_path: Path, registry: tuple[str, str, str]) -> None:
    host, user, password = registry
    config = {
        "auths": {
            "other.io": {"auth": base64.b64encode(b"x:y").decode()},
            f"https://{host}/v2/": {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()},
        }
    }
    secret = _secret(tmp_path / "config.json", json.dumps(config))
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": [host], "static": {"configFile": str(secret)}, "cacheDuration": "2m"}]
    )
    response = kubelet_exec(f"{host}/team/app", settings).response()
    assert get_v2(host, response.auth[host].username, response.auth[host].password) == 200
    assert response.cache_duration == 2 * goduration.MINUTE


@pytest.mark.parametrize(
    ("mode", "owner", "message"),
    [(0o640, 0, "mode 0640"), (0o604, 0, "mode 0604"), (0o600, 65534, "owned by uid 65534")],
)
def test_exposed_secret_files_are_refused(tmp_path: Path, mode: int, owner: int, message: str) -> None:
    secret = _secret(tmp_path / "pw", "pw", mode)
    os.chown(secret, owner, 0)
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": ["r.io"], "static": {"username": "u", "passwordFile": str(secret)}}]
    )
    result = kubelet_exec("r.io/app", settings)
    assert (result.code, result.stdout) == (1, b"")
    assert message in result.stderr
    assert str(secret) in result.stderr
    assert "pw" not in result.stderr.replace(str(secret), "")


def _helper(directory: Path, body: str) -> dict[str, str]:
    directory.mkdir(exist_ok=True)
    script = directory / "docker-credential-test"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(0o755)
    return {"PATH": f"{directory}:{os.environ['PATH']}"}


def test_credential_helper_answers(tmp_path: Path) -> None:
    env = _helper(
        tmp_path / "bin",
        'read url; [ "$1" = get ] && printf \'{"ServerURL":"%s","Username":"bob",'
        '"Secret":"helper-pw"}\' "$url"\n',
    )
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": ["registry.internal:5000"], "helper": {"name": "test"}}], fmt="yaml"
    )
    response = kubelet_exec("registry.internal:5000/app", settings, env).response()
    assert response.auth["registry.internal:5000"].username == "bob"
    assert response.auth["registry.internal:5000"].password == "helper-pw"


def test_helper_identity_token_becomes_acr_null_user(tmp_path: Path) -> None:
    env = _helper(tmp_path / "bin", 'echo \'{"ServerURL":"x","Username":"<token>","Secret":"refresh"}\'\n')
    settings = write_settings(tmp_path / "p.yaml", [{"match": ["*.azurecr.io"], "helper": {"name": "test"}}])
    auth = kubelet_exec("myreg.azurecr.io/app", settings, env).response().auth["myreg.azurecr.io"]
    assert (auth.username, auth.password) == ("00000000-0000-0000-0000-000000000000", "refresh")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("echo 'credentials not found in native keychain'; exit 1\n", "has no credentials for r.io"),
        ("echo 'boom'; exit 3\n", "failed (exit 3): boom"),
        ("echo 'not json'\n", "printed no {Username, Secret} JSON"),
        ("sleep 30\n", "did not answer in time"),
    ],
)
def test_helper_failures_are_one_line(tmp_path: Path, body: str, message: str) -> None:
    env = _helper(tmp_path / "bin", body)
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": ["r.io"], "helper": {"name": "test", "timeout": "1s"}}]
    )
    result = kubelet_exec("r.io/app", settings, env)
    assert (result.code, result.stdout) == (1, b"")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_unmatched_image_gets_empty_auth_per_registry(tmp_path: Path) -> None:
    settings = write_settings(
        tmp_path / "p.yaml", [{"match": ["r.io"], "helper": {"name": "test"}}], unmatchedCacheDuration="7m"
    )
    response = kubelet_exec("docker.io/library/nginx", settings).response()
    assert (response.auth, response.cache_key_type, response.cache_duration) == (
        {},
        "Registry",
        7 * goduration.MINUTE,
    )


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_response_uses_the_requests_api_version(tmp_path: Path, version: str) -> None:
    api = f"credentialprovider.kubelet.k8s.io/{version}"
    settings = write_settings(tmp_path / "p.yaml", [])
    assert kubelet_exec("r.io/app", settings, api_version=api).response(api).api_version == api


BAD_STDIN = [
    ("empty stdin", b"", "empty"),
    ("malformed JSON", b"{nope", "not JSON"),
    ("10 MB stdin", b" " * (10 * 1024 * 1024), "bytes"),
    ("wrong kind", json.dumps({"kind": "Pod", "apiVersion": V1, "image": "r.io/x"}).encode(), "kind"),
    (
        "wrong apiVersion",
        json.dumps({"kind": "CredentialProviderRequest", "apiVersion": "v2", "image": "r.io/x"}).encode(),
        "apiVersion",
    ),
    (
        "missing image",
        json.dumps({"kind": "CredentialProviderRequest", "apiVersion": V1}).encode(),
        "no image",
    ),
]


@pytest.mark.parametrize(("name", "stdin", "message"), BAD_STDIN, ids=[c[0] for c in BAD_STDIN])
def test_bad_requests_exit_1_with_one_line(tmp_path: Path, name: str, stdin: bytes, message: str) -> None:
    result = kubelet_exec("", write_settings(tmp_path / "p.yaml", []), stdin=stdin)
    assert (result.code, result.stdout) == (1, b"")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_image_without_registry_part_is_docker_hub(tmp_path: Path) -> None:
    # The kubelet sends docker.io/library/nginx; a bare "nginx" is normalised the same way.
    env = _helper(tmp_path / "bin", 'echo \'{"ServerURL":"x","Username":"hub","Secret":"pw"}\'\n')
    settings = write_settings(tmp_path / "p.yaml", [{"match": ["docker.io"], "helper": {"name": "test"}}])
    response = kubelet_exec("nginx", settings, env).response()
    assert response.auth["docker.io"].username == "hub"


BAD_SETTINGS = [
    ("missing file", None, "cannot read provider settings"),
    ("not YAML", "a: [", "not valid YAML"),
    ("wrong kind", "apiVersion: nodecred.io/v1alpha1\nkind: Other\n", "kind: ProviderSettings"),
    (
        "unknown backend key",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: [r.io]\n  quay: {}\n",
        "registries[0].quay: unknown key",
    ),
    (
        "two backends",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: [r.io]\n  ecr: {}\n  gcp: {}\n",
        "exactly one backend key",
    ),
    (
        "bad duration",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nunmatchedCacheDuration: 5 minutes\n",
        "unmatchedCacheDuration",
    ),
    (
        "bad pattern",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: ['%zz']\n  ecr: {}\n",
        "registries[0].match",
    ),
    (
        "JSON with a duplicate key",
        '{"apiVersion": "nodecred.io/v1alpha1", "kind": "ProviderSettings", "timeout": "5s", "timeout": "9s"}',
        "timeout: set twice",
    ),
    (
        "broken JSON",
        '{"apiVersion": "nodecred.io/v1alpha1", "kind": ',
        "not valid JSON",
    ),
    (
        "not UTF-8",
        b"apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\ncacheDir: /tmp/\xff",
        "not UTF-8",
    ),
    (
        "unknown OCI auth",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: ['*.ocir.io']\n  ocir: {auth: resource_principal}\n",
        "registries[0].ocir.auth: 'resource_principal'; use one of instance_principal, user_principal",
    ),
    (
        "endpoint that is not a URL",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: ['*.azurecr.io']\n  acr: {metadataEndpoint: 169.254.169.254}\n",
        "registries[0].acr.metadataEndpoint: give a URL",
    ),
    (
        "static without username",
        "apiVersion: nodecred.io/v1alpha1\nkind: ProviderSettings\nregistries:\n"
        "- match: [r.io]\n  static: {passwordFile: /x}\n",
        "static.username",
    ),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_bad_settings_exit_1_naming_the_field(
    tmp_path: Path, name: str, text: str | bytes | None, message: str
) -> None:
    path = tmp_path / "provider.yaml"
    if text is not None:
        path.write_bytes(text if isinstance(text, bytes) else text.encode())
    result = kubelet_exec("r.io/app", path)
    assert (result.code, result.stdout) == (1, b"")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1


def test_foreign_or_corrupt_cache_files_are_replaced(tmp_path: Path) -> None:
    env = _helper(tmp_path / "bin", 'echo \'{"ServerURL":"x","Username":"u","Secret":"fresh"}\'\n')
    settings = write_settings(tmp_path / "p.yaml", [{"match": ["r.io"], "helper": {"name": "test"}}])
    kubelet_exec("r.io/app", settings, env).response()
    (entry,) = (tmp_path / "cache").glob("*.json")
    for spoil in ("chown", "corrupt"):
        entry.write_text(
            json.dumps({"username": "evil", "password": "planted", "expires_at": time.time() + 9999})
        )
        entry.chmod(0o600)
        if spoil == "chown":
            os.chown(entry, 65534, 65534)
        else:
            entry.write_text("{not json")
        assert kubelet_exec("r.io/app", settings, env).response().auth["r.io"].password == "fresh"
        assert entry.stat().st_uid == os.geteuid()
    assert oct((tmp_path / "cache").stat().st_mode & 0o777) == "0o700"
    assert oct(entry.stat().st_mode & 0o777) == "0o600"
