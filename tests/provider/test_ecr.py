"""ECR through the real provider process: moto on loopback, and a scripted endpoint for failures."""

from __future__ import annotations

import base64
import datetime
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from nodecred.kubelet import goduration
from nodecred.provider.backends.ecr import parse_host
from tests.provider.harness import aws_json, http_server, kubelet_exec, write_settings

HOST = "123456789012.dkr.ecr.us-west-2.amazonaws.com"
IMAGE = HOST + "/team/app"
ECR_MATCH = ["*.dkr.ecr.*.amazonaws.com", "public.ecr.aws"]
TOKEN_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"


def _settings(tmp_path: Path, **ecr: str) -> Path:
    return write_settings(tmp_path / "provider.yaml", [{"match": ECR_MATCH, "ecr": ecr}])


def test_ecr_token_from_moto(
    tmp_path: Path, moto_endpoint: tuple[str, Counter[str]], aws_env: dict[str, str]
) -> None:
    endpoint, counts = moto_endpoint
    result = kubelet_exec(IMAGE, _settings(tmp_path), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
    response = result.response()
    assert response.cache_key_type == "Registry"
    assert list(response.auth) == [HOST]
    assert response.auth[HOST].username == "AWS"
    assert response.auth[HOST].password
    # moto's token lives 12 h: the kubelet may keep it for its life minus a tenth.
    assert response.cache_duration is not None
    assert 10 * goduration.HOUR < response.cache_duration < 11 * goduration.HOUR
    assert counts[TOKEN_TARGET] == 1


def test_second_call_is_served_from_the_cache(
    tmp_path: Path, moto_endpoint: tuple[str, Counter[str]], aws_env: dict[str, str]
) -> None:
    endpoint, counts = moto_endpoint
    env = {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint}
    settings = _settings(tmp_path)
    first = kubelet_exec(IMAGE, settings, env).response()
    second = kubelet_exec(IMAGE, settings, env).response()
    assert first.auth == second.auth
    assert counts[TOKEN_TARGET] == 1


def test_fifty_concurrent_cold_calls_make_one_token_call(
    tmp_path: Path, moto_endpoint: tuple[str, Counter[str]], aws_env: dict[str, str]
) -> None:
    endpoint, counts = moto_endpoint
    env = {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint}
    settings = _settings(tmp_path)
    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(lambda _: kubelet_exec(IMAGE, settings, env), range(50)))
    assert all(r.code == 0 for r in results), [r.stderr for r in results if r.code]
    assert len({r.response().auth[HOST].password for r in results}) == 1
    assert counts[TOKEN_TARGET] == 1


def test_region_override_and_config_env_reach_botocore(tmp_path: Path, aws_env: dict[str, str]) -> None:
    seen: list[str] = []

    def handle(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        seen.append(headers.get("Authorization", ""))
        token = base64.b64encode(b"AWS:pw").decode()
        return aws_json(
            200, {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + 3600}]}
        )

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(
            IMAGE, _settings(tmp_path, region="eu-central-1"), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint}
        )
    assert result.response().auth[HOST].password == "pw"
    assert "/eu-central-1/ecr/aws4_request" in seen[0]


def test_access_denied_names_the_missing_action(tmp_path: Path, aws_env: dict[str, str]) -> None:
    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        return aws_json(400, {"__type": "AccessDeniedException", "message": "not authorized"})

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(IMAGE, _settings(tmp_path), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
    assert result.code == 1
    assert result.stdout == b""
    assert result.stderr.strip().count("\n") == 0
    assert "ecr:GetAuthorizationToken" in result.stderr


def test_throttling_is_retried_inside_the_deadline(tmp_path: Path, aws_env: dict[str, str]) -> None:
    calls: list[int] = []

    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        calls.append(1)
        if len(calls) < 3:
            return aws_json(400, {"__type": "ThrottlingException", "message": "Rate exceeded"})
        token = base64.b64encode(b"AWS:pw").decode()
        return aws_json(
            200, {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + 3600}]}
        )

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(IMAGE, _settings(tmp_path), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
    assert result.response().auth[HOST].password == "pw"
    assert len(calls) == 3


def test_http_429_waits_for_retry_after(tmp_path: Path, aws_env: dict[str, str]) -> None:
    seen: list[float] = []

    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        seen.append(time.monotonic())
        if len(seen) == 1:
            status, headers, body = aws_json(429, {"__type": "TooManyRequestsException", "message": "slow"})
            return status, {**headers, "Retry-After": "2"}, body
        token = base64.b64encode(b"AWS:pw").decode()
        return aws_json(
            200, {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + 3600}]}
        )

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(IMAGE, _settings(tmp_path), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
    assert result.response().auth[HOST].password == "pw"
    assert len(seen) == 2
    # Full jitter alone would retry within 0.2 s; the server asked for 2 s.
    assert seen[1] - seen[0] >= 1.9


def test_retry_after_past_the_deadline_fails_at_once(tmp_path: Path, aws_env: dict[str, str]) -> None:
    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        status, headers, body = aws_json(429, {"__type": "TooManyRequestsException", "message": "slow"})
        return status, {**headers, "Retry-After": "300"}, body

    settings = write_settings(tmp_path / "provider.yaml", [{"match": ECR_MATCH, "ecr": {}}], timeout="5s")
    with http_server(handle) as (endpoint, counts):
        started = time.monotonic()
        result = kubelet_exec(IMAGE, settings, {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
        elapsed = time.monotonic() - started
    assert result.code == 1
    assert result.stdout == b""
    assert "still throttled when the deadline ran out" in result.stderr
    assert counts[TOKEN_TARGET] == 1
    assert elapsed < 4


def test_http_proxy_from_the_config_env_carries_the_token_call(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    requested: list[str] = []

    def proxy(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        requested.append(f"{method} {path}")
        token = base64.b64encode(b"AWS:pw").decode()
        return aws_json(
            200, {"authorizationData": [{"authorizationToken": token, "expiresAt": time.time() + 3600}]}
        )

    with http_server(proxy) as (proxy_url, _):
        env = {
            **aws_env,
            "AWS_ENDPOINT_URL_ECR": "http://ecr.nodecred-test.invalid",  # resolvable only by the proxy
            "HTTP_PROXY": proxy_url,
            "NO_PROXY": "",
        }
        result = kubelet_exec(IMAGE, _settings(tmp_path), env)
    assert result.response().auth[HOST].password == "pw"
    assert requested == ["POST http://ecr.nodecred-test.invalid/"]


def test_https_proxy_is_tunnelled_and_its_password_never_printed(
    tmp_path: Path, aws_env: dict[str, str]
) -> None:
    requested: list[str] = []

    def proxy(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        requested.append(f"{method} {path}")
        return 502, {}, b""

    with http_server(proxy) as (proxy_url, _):
        env = {
            **aws_env,
            "HTTPS_PROXY": proxy_url.replace("http://", "http://proxyuser:s3cr3t-proxy-pw@"),
            "NO_PROXY": "",
        }
        result = kubelet_exec(IMAGE, _settings(tmp_path), env)
    assert requested == ["CONNECT api.ecr.us-west-2.amazonaws.com:443"]
    assert result.code == 1
    assert result.stdout == b""
    assert "s3cr3t-proxy-pw" not in result.stderr
    assert result.stderr.strip().count("\n") == 0


def test_hanging_endpoint_is_cut_at_the_deadline(tmp_path: Path, aws_env: dict[str, str]) -> None:
    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        time.sleep(10)
        return aws_json(500, {})

    settings = write_settings(tmp_path / "provider.yaml", [{"match": ECR_MATCH, "ecr": {}}], timeout="2s")
    with http_server(handle) as (endpoint, _):
        started = time.monotonic()
        result = kubelet_exec(IMAGE, settings, {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
        elapsed = time.monotonic() - started
    assert result.code == 1
    assert elapsed < 8
    assert "cannot reach" in result.stderr or "failed" in result.stderr


def test_no_credentials_is_one_clear_line(tmp_path: Path, aws_env: dict[str, str]) -> None:
    env = {
        k: v for k, v in aws_env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")
    }
    env.update({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    result = kubelet_exec(IMAGE, _settings(tmp_path), env)
    assert result.code == 1
    assert "no AWS credentials" in result.stderr


def test_ecr_public_uses_us_east_1(tmp_path: Path, aws_env: dict[str, str]) -> None:
    # moto's ecr-public has no GetAuthorizationToken, so this path is checked against a scripted endpoint.
    seen: list[tuple[str, str]] = []

    def handle(
        method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        seen.append((headers.get("X-Amz-Target", ""), headers.get("Authorization", "")))
        token = base64.b64encode(b"AWS:public-pw").decode()
        return aws_json(
            200, {"authorizationData": {"authorizationToken": token, "expiresAt": time.time() + 3600}}
        )

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(
            "public.ecr.aws/team/app",
            _settings(tmp_path),
            {**aws_env, "AWS_ENDPOINT_URL_ECR_PUBLIC": endpoint},
        )
    assert result.response().auth["public.ecr.aws"].password == "public-pw"
    assert seen[0][0] == "SpencerFrontendService.GetAuthorizationToken"
    assert "/us-east-1/ecr-public/aws4_request" in seen[0][1]


def test_assume_role_is_used_for_cross_account(
    tmp_path: Path, moto_endpoint: tuple[str, Counter[str]], aws_env: dict[str, str]
) -> None:
    endpoint, counts = moto_endpoint
    env = {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint, "AWS_ENDPOINT_URL_STS": endpoint}
    result = kubelet_exec(IMAGE, _settings(tmp_path, roleArn="arn:aws:iam::210987654321:role/puller"), env)
    assert result.response().auth[HOST].username == "AWS"
    assert counts["/"] >= 1  # the STS query-protocol call (no X-Amz-Target)


@pytest.mark.parametrize(
    ("host", "region", "fips", "dual"),
    [
        ("123456789123.dkr.ecr.us-west-2.amazonaws.com", "us-west-2", False, False),
        ("123456789123.dkr.ecr-fips.us-west-2.amazonaws.com", "us-west-2", True, False),
        ("123456789123.dkr.ecr.us-gov-east-1.amazonaws.com", "us-gov-east-1", False, False),
        ("123456789123.dkr.ecr.cn-north-1.amazonaws.com.cn", "cn-north-1", False, False),
        ("123456789123.dkr.ecr.eusc-de-east-1.amazonaws.eu", "eusc-de-east-1", False, False),
        ("123456789123.dkr.ecr.us-iso-east-1.c2s.ic.gov", "us-iso-east-1", False, False),
        ("123456789012.dkr.ecr.us-isob-east-1.sc2s.sgov.gov", "us-isob-east-1", False, False),
        ("123456789012.dkr.ecr.eu-isoe-west-1.cloud.adc-e.uk", "eu-isoe-west-1", False, False),
        ("123456789012.dkr.ecr.us-isof-east-1.csp.hci.ic.gov", "us-isof-east-1", False, False),
        ("123456789123.dkr-ecr.us-west-2.on.aws", "us-west-2", False, True),
        ("123456789123.dkr-ecr-fips.us-west-2.on.aws", "us-west-2", True, True),
        ("123456789123.dkr-ecr.cn-north-1.on.amazonwebservices.com.cn", "cn-north-1", False, True),
    ],
)
def test_ecr_host_forms(host: str, region: str, fips: bool, dual: bool) -> None:
    parsed = parse_host(host)
    assert parsed is not None
    assert (parsed.account, parsed.region, parsed.fips, parsed.dual_stack) == (host[:12], region, fips, dual)


@pytest.mark.parametrize(
    "host",
    [
        "12345678912.dkr.ecr.us-west-2.amazonaws.com",
        "1234567891234.dkr.ecr.us-west-2.amazonaws.com",
        "123456789123.dkr.ecr.us-west-2.amazonaws.gov",
        "123456789123.dkr.ecr.us-west-2.amazonaws.hacker.com",
        "123456789123.dkr.cat.us-west-2.amazonaws.com",
    ],
)
def test_non_ecr_hosts_are_rejected(host: str) -> None:
    assert parse_host(host) is None


def test_expired_token_in_cache_is_never_served(
    tmp_path: Path, moto_endpoint: tuple[str, Counter[str]], aws_env: dict[str, str]
) -> None:
    endpoint, counts = moto_endpoint
    env = {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint}
    settings = _settings(tmp_path)
    kubelet_exec(IMAGE, settings, env).response()
    (entry,) = (tmp_path / "cache").glob("*.json")
    data = json.loads(entry.read_text())
    data["expires_at"] = datetime.datetime.now(datetime.UTC).timestamp() - 1
    entry.write_text(json.dumps(data))
    kubelet_exec(IMAGE, settings, env).response()
    assert counts[TOKEN_TARGET] == 2


def test_already_expired_token_is_not_cached_by_the_kubelet(tmp_path: Path, aws_env: dict[str, str]) -> None:
    def handle(*_: object) -> tuple[int, dict[str, str], bytes]:
        token = base64.b64encode(b"AWS:pw").decode()
        return aws_json(200, {"authorizationData": [{"authorizationToken": token, "expiresAt": 1420070400}]})

    with http_server(handle) as (endpoint, _):
        result = kubelet_exec(IMAGE, _settings(tmp_path), {**aws_env, "AWS_ENDPOINT_URL_ECR": endpoint})
    assert result.response().cache_duration == 0
