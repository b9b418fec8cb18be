"""OCIR, GCP and ACR through the real provider process, against loopback fakes of each endpoint."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from nodecred.kubelet import goduration
from tests.provider.clouds import FakeAzure, FakeCloud, FakeGce, FakeOci, answer
from tests.provider.harness import http_server, kubelet_exec, write_settings

# Nothing may leave loopback, whatever the machine's environment says.
NO_PROXY_ENV = {
    "HTTPS_PROXY": "",
    "HTTP_PROXY": "",
    "https_proxy": "",
    "http_proxy": "",
    "NO_PROXY": "*",
    "no_proxy": "*",
}


def _via_proxy(url: str) -> dict[str, str]:
    """HTTP_PROXY in both spellings (lower case wins in urllib), nothing exempt."""
    return {"HTTP_PROXY": url, "http_proxy": url, "NO_PROXY": "", "no_proxy": ""}


@dataclass(frozen=True)
class Cloud:
    name: str
    fake: Callable[[], FakeCloud]
    image: str
    match: list[str]
    options: Callable[[str], dict[str, str]]  # endpoint URL -> backend options
    token_path: str  # the call that mints the credential
    username: str
    lifetime: float  # seconds the minted credential lives
    refusal_hint: str  # what the one-line error tells the operator to fix

    @property
    def host(self) -> str:
        return self.image.split("/", 1)[0]


CLOUDS = [
    Cloud(
        "ocir",
        FakeOci,
        "iad.ocir.io/axaxnpcrorw5/team/app:1.0",
        ["*.ocir.io"],
        lambda ep: {"metadataEndpoint": ep + "/opc/v2", "federationEndpoint": ep, "registryEndpoint": ep},
        "/20180419/docker/token",
        "BEARER_TOKEN",
        3600,
        "Allow dynamic-group <group> to read repos in tenancy",
    ),
    Cloud(
        "gcp",
        FakeGce,
        "us-docker.pkg.dev/project/repo/app:1.0",
        ["*-docker.pkg.dev", "gcr.io", "*.gcr.io"],
        lambda ep: {"metadataEndpoint": ep},
        FakeGce.BASE + "token",
        "oauth2accesstoken",
        3599,
        "devstorage.read_only",  # see test_gcp_missing_pull_scope_is_named
    ),
    Cloud(
        "acr",
        FakeAzure,
        "contoso.azurecr.io/team/app:1.0",
        ["*.azurecr.io", "*.azurecr.cn", "*.azurecr.us"],
        lambda ep: {"metadataEndpoint": ep, "registryEndpoint": ep},
        "/oauth2/exchange",
        "00000000-0000-0000-0000-000000000000",
        3 * 3600,
        "AcrPull role",
    ),
]
BY_NAME = {c.name: c for c in CLOUDS}


@pytest.fixture(params=CLOUDS, ids=[c.name for c in CLOUDS])
def cloud(request: pytest.FixtureRequest) -> Cloud:
    result: Cloud = request.param
    return result


@pytest.fixture
def served(cloud: Cloud) -> Iterator[tuple[FakeCloud, str]]:
    fake = cloud.fake()
    with http_server(fake) as (endpoint, _):
        yield fake, endpoint


def _settings(tmp_path: Path, cloud: Cloud, endpoint: str, **extra: Any) -> Path:
    registry = {"match": cloud.match, cloud.name: cloud.options(endpoint)}
    return write_settings(tmp_path / "provider.yaml", [registry], **extra)


def _run(cloud: Cloud, settings: Path, env: dict[str, str] | None = None) -> Any:
    return kubelet_exec(cloud.image, settings, {**NO_PROXY_ENV, **(env or {})})


def _one_line_failure(result: Any) -> str:
    assert result.code == 1, result.stderr
    assert result.stdout == b""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    return str(result.stderr)


def test_token_is_minted_returned_and_cached(
    tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]
) -> None:
    fake, endpoint = served
    settings = _settings(tmp_path, cloud, endpoint)
    first = _run(cloud, settings).response()
    assert first.cache_key_type == "Registry"
    assert list(first.auth) == [cloud.host]
    assert first.auth[cloud.host].username == cloud.username
    assert first.auth[cloud.host].password == fake.issued[-1]
    # The kubelet keeps it for the token's life minus a tenth (at least a minute).
    assert first.cache_duration is not None
    expected = cloud.lifetime * 0.9 * goduration.SECOND
    assert expected - 5 * goduration.SECOND < first.cache_duration <= expected
    assert _run(cloud, settings).response().auth == first.auth
    assert fake.calls[cloud.token_path] == 1
    assert fake.errors == []


def test_concurrent_cold_calls_mint_one_token(
    tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]
) -> None:
    fake, endpoint = served
    settings = _settings(tmp_path, cloud, endpoint)
    with ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(lambda _: _run(cloud, settings), range(20)))
    assert all(r.code == 0 for r in results), [r.stderr for r in results if r.code]
    assert {r.response().auth[cloud.host].password for r in results} == set(fake.issued)
    assert fake.calls[cloud.token_path] == 1


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("name", ["ocir", "acr"])  # the GCE metadata server refuses no correct request
def test_refusal_is_one_line_naming_the_fix(tmp_path: Path, name: str, status: int) -> None:
    cloud = BY_NAME[name]
    fake = cloud.fake()
    fake.script[cloud.token_path].append(answer(status, {"code": "NotAuthorized", "message": "denied"}))
    with http_server(fake) as (endpoint, _):
        stderr = _one_line_failure(_run(cloud, _settings(tmp_path, cloud, endpoint)))
    assert cloud.refusal_hint in stderr
    assert str(status) in stderr


def test_429_is_retried_after_retry_after(
    tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]
) -> None:
    fake, endpoint = served
    fake.script[cloud.token_path].append(answer(429, {"code": "TooManyRequests"}, **{"Retry-After": "1"}))
    started = time.monotonic()
    response = _run(cloud, _settings(tmp_path, cloud, endpoint)).response()
    assert response.auth[cloud.host].password == fake.issued[-1]
    assert fake.calls[cloud.token_path] == 2
    assert time.monotonic() - started >= 1.0


def test_hanging_endpoint_is_cut_at_the_deadline(
    tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]
) -> None:
    fake, endpoint = served
    fake.script[cloud.token_path].append(10.0)
    started = time.monotonic()
    stderr = _one_line_failure(_run(cloud, _settings(tmp_path, cloud, endpoint, timeout="2s")))
    assert time.monotonic() - started < 6
    assert "deadline" in stderr


def test_malformed_json_is_one_line(tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]) -> None:
    fake, endpoint = served
    fake.script[cloud.token_path].append((200, {"Content-Type": "application/json"}, b'{"token": '))
    stderr = _one_line_failure(_run(cloud, _settings(tmp_path, cloud, endpoint)))
    assert "not a JSON object" in stderr


def test_expired_token_in_the_cache_is_replaced(
    tmp_path: Path, cloud: Cloud, served: tuple[FakeCloud, str]
) -> None:
    fake, endpoint = served
    settings = _settings(tmp_path, cloud, endpoint)
    _run(cloud, settings).response()
    (entry,) = (tmp_path / "cache").glob("*.json")
    data = json.loads(entry.read_text())
    data["expires_at"] = time.time() - 1
    entry.write_text(json.dumps(data))
    response = _run(cloud, settings).response()
    assert fake.calls[cloud.token_path] == 2
    assert response.auth[cloud.host].password == fake.issued[-1]
    assert len(set(fake.issued)) == 2


# -- OCI specifics -------------------------------------------------------------------------


def test_oci_signatures_verify_and_imds_v2_header_is_sent(tmp_path: Path) -> None:
    fake = FakeOci()
    with http_server(fake) as (endpoint, _):
        _run(BY_NAME["ocir"], _settings(tmp_path, BY_NAME["ocir"], endpoint)).response()
    # The fake refuses any IMDS call without "Authorization: Bearer Oracle" and any request
    # whose signature does not verify against the leaf or session public key.
    assert fake.errors == []
    assert fake.calls["/v1/x509"] == 1
    assert len(fake.sessions) == 1


def test_oci_federation_refusal_names_clock_and_principal(tmp_path: Path) -> None:
    fake = FakeOci()
    fake.script["/v1/x509"].append(answer(401, {"code": "NotAuthenticated", "message": "bad sig"}))
    with http_server(fake) as (endpoint, _):
        stderr = _one_line_failure(_run(BY_NAME["ocir"], _settings(tmp_path, BY_NAME["ocir"], endpoint)))
    assert "federation" in stderr
    assert "clock" in stderr
    assert "NotAuthenticated" in stderr


def test_oci_imds_throttling_is_retried(tmp_path: Path) -> None:
    fake = FakeOci()
    fake.script["/opc/v2/identity/cert.pem"].append(answer(429, {"code": "TooManyRequests"}))
    with http_server(fake) as (endpoint, _):
        response = _run(BY_NAME["ocir"], _settings(tmp_path, BY_NAME["ocir"], endpoint)).response()
    assert response.auth["iad.ocir.io"].password == fake.issued[-1]
    assert fake.calls["/opc/v2/identity/cert.pem"] == 2


def test_oci_user_principal_signs_with_the_api_key(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    fake = FakeOci()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "oci_api_key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"k3y-pass"),
        )
    )
    key_file.chmod(0o600)
    user, fingerprint = "ocid1.user.oc1..ci", "aa:bb:cc"
    fake.api_keys[f"ocid1.tenancy.oc1..ci/{user}/{fingerprint}"] = key.public_key()
    config = tmp_path / "oci-config"
    config.write_text(
        f"[DEFAULT]\nregion=us-ashburn-1\n\n[ci]\nuser={user}\nfingerprint={fingerprint}\n"
        f"tenancy=ocid1.tenancy.oc1..ci\nkey_file={key_file}\npass_phrase=k3y-pass\n"
    )
    config.chmod(0o600)
    with http_server(fake) as (endpoint, _):
        options = {"auth": "user_principal", "configFile": str(config), "profile": "ci"}
        options["registryEndpoint"] = endpoint
        settings = write_settings(tmp_path / "p.json", [{"match": ["*.ocir.io"], "ocir": options}])
        result = _run(BY_NAME["ocir"], settings)
        assert result.response().auth["iad.ocir.io"].password == fake.issued[-1]
        assert fake.errors == []
        assert fake.calls["/v1/x509"] == 0  # no instance principal involved
        config.chmod(0o644)
        (tmp_path / "cache").rename(tmp_path / "cache.old")
        stderr = _one_line_failure(_run(BY_NAME["ocir"], settings))
    assert f"{config} has mode 0644" in stderr
    assert "k3y-pass" not in stderr


# -- GCP specifics -------------------------------------------------------------------------


def test_gcp_missing_pull_scope_is_named(tmp_path: Path) -> None:
    fake = FakeGce(scopes=["https://www.googleapis.com/auth/logging.write"])
    with http_server(fake) as (endpoint, _):
        stderr = _one_line_failure(_run(BY_NAME["gcp"], _settings(tmp_path, BY_NAME["gcp"], endpoint)))
    assert "devstorage.read_only" in stderr
    assert fake.calls[FakeGce.BASE + "token"] == 0


def test_gcp_cloud_platform_scope_is_enough(tmp_path: Path) -> None:
    fake = FakeGce(scopes=["https://www.googleapis.com/auth/cloud-platform"])
    with http_server(fake) as (endpoint, _):
        response = _run(BY_NAME["gcp"], _settings(tmp_path, BY_NAME["gcp"], endpoint)).response()
    assert response.auth["us-docker.pkg.dev"].password == fake.issued[-1]


def test_gcp_node_without_service_account(tmp_path: Path) -> None:
    fake = FakeGce()
    fake.script[FakeGce.BASE + "scopes"].append(answer(404, b"Not Found"))
    with http_server(fake) as (endpoint, _):
        stderr = _one_line_failure(_run(BY_NAME["gcp"], _settings(tmp_path, BY_NAME["gcp"], endpoint)))
    assert "no service account" in stderr


def test_gcp_metadata_host_from_environment_and_never_proxied(tmp_path: Path) -> None:
    fake = FakeGce()
    proxied: list[str] = []

    def proxy(
        method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        proxied.append(target)
        return 502, {}, b""

    with http_server(fake) as (endpoint, _), http_server(proxy) as (proxy_url, _):
        settings = write_settings(tmp_path / "p.json", [{"match": ["gcr.io"], "gcp": {}}])
        env = {"GCE_METADATA_HOST": endpoint.removeprefix("http://"), **_via_proxy(proxy_url)}
        result = kubelet_exec("gcr.io/project/app", settings, {**NO_PROXY_ENV, **env})
    assert result.response().auth["gcr.io"].password == fake.issued[-1]
    assert proxied == []


# -- Azure specifics -----------------------------------------------------------------------


def test_acr_user_assigned_identity_by_client_id(tmp_path: Path) -> None:
    client = "8c8e0d3a-8f0e-4c6b-9b53-2b1c9c5f0a11"
    fake = FakeAzure(client_ids=(client,))
    with http_server(fake) as (endpoint, _):
        options = {"clientId": client, "metadataEndpoint": endpoint, "registryEndpoint": endpoint}
        settings = write_settings(tmp_path / "p.json", [{"match": ["*.azurecr.io"], "acr": options}])
        response = _run(BY_NAME["acr"], settings).response()
        assert response.auth["contoso.azurecr.io"].password == fake.issued[-1]
        (tmp_path / "cache").rename(tmp_path / "cache.old")
        options["clientId"] = "00000000-1111-2222-3333-444444444444"
        settings = write_settings(tmp_path / "p.json", [{"match": ["*.azurecr.io"], "acr": options}])
        stderr = _one_line_failure(_run(BY_NAME["acr"], settings))
    assert "no user-assigned identity 00000000-1111-2222-3333-444444444444" in stderr
    assert "Identity not found" in stderr


def test_acr_exchange_goes_through_the_proxy_and_imds_never_does(tmp_path: Path) -> None:
    fake = FakeAzure()
    proxied: list[str] = []

    def proxy(
        method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        proxied.append(f"{method} {target}")
        return fake(method, target, headers, body)

    with http_server(fake) as (endpoint, _), http_server(proxy) as (proxy_url, _):
        options = {"metadataEndpoint": endpoint, "registryEndpoint": "http://contoso.azurecr.io"}
        settings = write_settings(tmp_path / "p.json", [{"match": ["*.azurecr.io"], "acr": options}])
        env = _via_proxy(proxy_url)
        response = _run(BY_NAME["acr"], settings, env).response()
    assert response.auth["contoso.azurecr.io"].password == fake.issued[-1]
    assert proxied == ["POST http://contoso.azurecr.io/oauth2/exchange"]
