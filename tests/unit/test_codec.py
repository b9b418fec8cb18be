"""The exec protocol: plugin_test.go Test_encodeRequest bytes, response rules of §3.3."""

from __future__ import annotations

import json

import pytest

from nodecred.kubelet import goduration
from nodecred.kubelet.codec import (
    Auth,
    CodecError,
    CredentialProviderResponse,
    encode_request,
    encode_response,
    parse_request,
    parse_response,
)

V1 = "credentialprovider.kubelet.k8s.io/v1"


def test_request_bytes_match_the_kubelets() -> None:
    assert encode_request("test.registry.io/foobar") == (
        b'{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1",'
        b'"image":"test.registry.io/foobar"}\n'
    )


@pytest.mark.parametrize("version", ["v1", "v1beta1", "v1alpha1"])
def test_request_parses_in_every_api_version(version: str) -> None:
    api = f"credentialprovider.kubelet.k8s.io/{version}"
    request = parse_request(encode_request("r.io/x", api))
    assert (request.api_version, request.image) == (api, "r.io/x")


def test_service_account_fields_are_read_and_token_hidden() -> None:
    body = {
        "kind": "CredentialProviderRequest",
        "apiVersion": V1,
        "image": "r.io/x",
        "serviceAccountToken": "tok-123",
        "serviceAccountAnnotations": {"a/b": "c"},
    }
    request = parse_request(json.dumps(body).encode())
    assert request.service_account_token == "tok-123"
    assert request.service_account_annotations == {"a/b": "c"}
    assert "tok-123" not in repr(request)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"{not json", "not JSON"),
        (b"[1,2]", "JSON object"),
        (
            b'{"kind":"Other","apiVersion":"credentialprovider.kubelet.k8s.io/v1","image":"x"}',
            "kind",
        ),
        (b'{"kind":"CredentialProviderRequest","apiVersion":"v9","image":"x"}', "apiVersion"),
        (
            b'{"kind":"CredentialProviderRequest","apiVersion":"credentialprovider.kubelet.k8s.io/v1"}',
            "no image",
        ),
        (b"\xff\xfe", "not JSON"),
        (b" " * (1024 * 1024 + 1), "bytes"),
    ],
)
def test_bad_requests_are_one_clear_error(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        parse_request(data)


def test_response_round_trips_through_the_kubelets_checks() -> None:
    response = CredentialProviderResponse(
        V1,
        "Registry",
        11 * goduration.HOUR + 30 * goduration.MINUTE,
        {"r.io": Auth("AWS", "s3cret")},
    )
    data = encode_response(response)
    assert b'"cacheDuration":"11h30m0s"' in data
    assert parse_response(data, V1) == response


def test_response_without_duration_omits_the_field() -> None:
    data = encode_response(CredentialProviderResponse(V1, "Registry"))
    assert json.loads(data) == {
        "kind": "CredentialProviderResponse",
        "apiVersion": V1,
        "cacheKeyType": "Registry",
        "auth": {},
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "error reading GVK from response"),
        (
            '{"kind":"CredentialProviderResponse","cacheKeyType":"Image"}',
            "did not match expected apiVersion:credentialprovider.kubelet.k8s.io/v1, actual apiVersion:",
        ),
        (
            f'{{"kind":"CredentialProviderResponse","apiVersion":"{V1}","cacheKeyType":"Image","extra":1}}',
            "error decoding credential provider plugin response from stdout",
        ),
        (
            f'{{"kind":"CredentialProviderResponse","apiVersion":"{V1}","cacheKeyType":"Image","cacheDuration":60}}',
            "error decoding credential provider plugin response from stdout",
        ),
        (
            f'{{"kind":"CredentialProviderResponse","apiVersion":"{V1}","cacheKeyType":"Forever"}}',
            'did not return a valid cacheKeyType: "Forever"',
        ),
        (
            f'{{"kind":"CredentialProviderResponse","apiVersion":"{V1}"}}',
            'did not return a valid cacheKeyType: ""',
        ),
    ],
)
def test_kubelet_rejects_bad_responses(body: str, message: str) -> None:
    with pytest.raises(CodecError) as err:
        parse_response(body.encode(), V1)
    assert message in str(err.value)


def test_decode_error_never_repeats_the_secret() -> None:
    body = (
        f'{{"kind":"CredentialProviderResponse","apiVersion":"{V1}","cacheKeyType":"Image",'
        '"auth":{"r.io":{"username":"u","password":"hunter2","x":1}}}'
    )
    with pytest.raises(CodecError) as err:
        parse_response(body.encode(), V1)
    assert "hunter2" not in str(err.value)
