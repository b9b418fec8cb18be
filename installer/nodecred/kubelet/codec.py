"""The exec plugin protocol: CredentialProviderRequest in, CredentialProviderResponse out.

Both sides: the provider parses requests and emits responses; the kubelet side
(`encode_request`, `parse_response`) is used by the probe and by tests that run
the provider the way the kubelet does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nodecred.kubelet import goduration
from nodecred.kubelet.versions import EXEC_GROUP

EXEC_API_VERSIONS = (f"{EXEC_GROUP}/v1", f"{EXEC_GROUP}/v1beta1", f"{EXEC_GROUP}/v1alpha1")
CACHE_KEY_TYPES = ("Image", "Registry", "Global")
MAX_REQUEST_BYTES = 1024 * 1024


class CodecError(ValueError):
    """A request or response that does not follow the protocol; the message says which part."""


@dataclass(frozen=True)
class CredentialProviderRequest:
    api_version: str
    image: str
    service_account_token: str = field(default="", repr=False)
    service_account_annotations: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Auth:
    username: str
    password: str = field(repr=False)


@dataclass(frozen=True)
class CredentialProviderResponse:
    api_version: str
    cache_key_type: str
    cache_duration: int | None = None  # nanoseconds
    auth: dict[str, Auth] = field(default_factory=dict)


def _load_object(data: bytes, what: str, limit: int) -> dict[str, Any]:
    if len(data) > limit:
        raise CodecError(f"{what} is {len(data)} bytes; at most {limit} are accepted")
    if not data.strip():
        raise CodecError(f"{what} is empty; expected one JSON {what}")
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise CodecError(f"{what} is not JSON: {err}") from None
    if not isinstance(obj, dict):
        raise CodecError(f"{what} must be a JSON object, got {type(obj).__name__}")
    return obj


def parse_request(data: bytes) -> CredentialProviderRequest:
    obj = _load_object(data, "CredentialProviderRequest", MAX_REQUEST_BYTES)
    kind = obj.get("kind")
    api_version = obj.get("apiVersion")
    if kind != "CredentialProviderRequest":
        raise CodecError(f"request kind is {kind!r}; expected 'CredentialProviderRequest'")
    if api_version not in EXEC_API_VERSIONS:
        raise CodecError(
            f"request apiVersion is {api_version!r}; expected one of {', '.join(EXEC_API_VERSIONS)}"
        )
    image = obj.get("image")
    if not isinstance(image, str) or not image:
        raise CodecError("request has no image; the kubelet always sends one")
    token = obj.get("serviceAccountToken") or ""
    annotations = obj.get("serviceAccountAnnotations") or {}
    if not isinstance(token, str) or not isinstance(annotations, dict):
        raise CodecError("request serviceAccountToken must be a string and serviceAccountAnnotations a map")
    return CredentialProviderRequest(
        api_version=api_version,
        image=image,
        service_account_token=token,
        service_account_annotations={str(k): str(v) for k, v in annotations.items()},
    )


def encode_request(image: str, api_version: str = EXEC_API_VERSIONS[0]) -> bytes:
    """The exact bytes the kubelet writes to the plugin's stdin (plugin_test.go Test_encodeRequest)."""
    body = {"kind": "CredentialProviderRequest", "apiVersion": api_version, "image": image}
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def encode_response(response: CredentialProviderResponse) -> bytes:
    if response.cache_key_type not in CACHE_KEY_TYPES:
        raise CodecError(f"cacheKeyType {response.cache_key_type!r} is not one of {CACHE_KEY_TYPES}")
    body: dict[str, Any] = {
        "kind": "CredentialProviderResponse",
        "apiVersion": response.api_version,
        "cacheKeyType": response.cache_key_type,
    }
    if response.cache_duration is not None:
        body["cacheDuration"] = goduration.format(response.cache_duration)
    body["auth"] = {
        key: {"username": auth.username, "password": auth.password} for key, auth in response.auth.items()
    }
    return json.dumps(body, separators=(",", ":")).encode() + b"\n"


def parse_response(data: bytes, expected_api_version: str) -> CredentialProviderResponse:
    """What the kubelet accepts from stdout, with its messages (kubelet-contract.md §3.3)."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CodecError(f"error reading GVK from response: {err}") from None
    if not isinstance(obj, dict):
        raise CodecError("error reading GVK from response: not a JSON object")
    got = obj.get("apiVersion") if isinstance(obj.get("apiVersion"), str) else ""
    if got != expected_api_version:
        raise CodecError(
            "apiVersion from credential plugin response did not match expected "
            f"apiVersion:{expected_api_version}, actual apiVersion:{got}"
        )
    decode_error = CodecError("error decoding credential provider plugin response from stdout")
    if obj.get("kind") != "CredentialProviderResponse" or set(obj) - {
        "kind",
        "apiVersion",
        "cacheKeyType",
        "cacheDuration",
        "auth",
    }:
        raise decode_error
    duration = None
    if obj.get("cacheDuration") is not None:
        if not isinstance(obj["cacheDuration"], str):
            raise decode_error
        try:
            duration = goduration.parse(obj["cacheDuration"])
        except goduration.DurationError:
            raise decode_error from None
    auth: dict[str, Auth] = {}
    raw_auth = obj.get("auth") or {}
    if not isinstance(raw_auth, dict):
        raise decode_error
    for key, entry in raw_auth.items():
        if not isinstance(entry, dict) or set(entry) - {"username", "password"}:
            raise decode_error
        username, password = entry.get("username") or "", entry.get("password") or ""
        if not isinstance(username, str) or not isinstance(password, str):
            raise decode_error
        auth[key] = Auth(username, password)
    key_type = obj.get("cacheKeyType")
    if key_type not in CACHE_KEY_TYPES:
        shown = key_type if isinstance(key_type, str) else ""
        raise CodecError(f'credential provider plugin did not return a valid cacheKeyType: "{shown}"')
    return CredentialProviderResponse(got, key_type, duration, auth)
