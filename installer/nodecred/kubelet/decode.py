"""One config file's bytes -> CredentialProviderConfig, with the kubelet's decoding rules.

Mirrors `decode()` in pkg/credentialprovider/plugin/config.go: GVK lookup in the
kubelet's scheme, strict decoding from kubelet 1.32 (unknown and duplicate
fields are errors), typed fields (a number where a string belongs is an error,
null leaves the zero value), durations parsed as Go durations.
"""

from __future__ import annotations

from typing import Any

from nodecred.kubelet import goduration
from nodecred.kubelet.documents import Document, DocumentError, read_document
from nodecred.kubelet.model import (
    CredentialProvider,
    CredentialProviderConfig,
    ExecEnvVar,
    TokenAttributes,
)
from nodecred.kubelet.versions import CONFIG_GROUP, KubeletVersion


class DecodeError(ValueError):
    """The file would make the kubelet fail at decoding; the message is the kubelet's."""


# Other kinds the kubelet's scheme knows in its group: they decode, then fail "wrong Kind".
_OTHER_KINDS = {"v1beta1": {"KubeletConfiguration", "SerializedNodeConfigSource"}}

_PROVIDER_FIELDS = ("name", "matchImages", "defaultCacheDuration", "apiVersion", "args", "env")
_TOKEN_FIELDS = (
    "serviceAccountTokenAudience",
    "requireServiceAccount",
    "requiredServiceAccountAnnotationKeys",
    "optionalServiceAccountAnnotationKeys",
)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class _Reader:
    """Walks the document like Go's json.Unmarshal into typed structs, collecting strict errors."""

    def __init__(self, strict: bool, provider_fields: tuple[str, ...], token_fields: tuple[str, ...]):
        self.strict = strict
        self.provider_fields = provider_fields
        self.token_fields = token_fields
        self.unknown: list[str] = []

    def type_error(self, value: Any, struct: str, path: str, go_type: str) -> DecodeError:
        return DecodeError(
            f"json: cannot unmarshal {_json_type(value)} into Go struct field "
            f"{struct}.{path} of type {go_type}"
        )

    def check_fields(self, obj: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in obj:
            if key not in allowed:
                self.unknown.append(f'unknown field "{path}{key}"')

    def string(self, obj: dict[str, Any], key: str, struct: str, path: str) -> str:
        value = obj.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self.type_error(value, struct, path + key, "string")
        return value

    def strings(self, obj: dict[str, Any], key: str, struct: str, path: str) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise self.type_error(value, struct, path + key, "[]string")
        for item in value:
            if item is not None and not isinstance(item, str):
                raise self.type_error(item, struct, path + key, "string")
        return tuple(item or "" for item in value)

    def object(self, value: Any, struct: str, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.type_error(value, struct, path, struct.rsplit(".", maxsplit=1)[-1])
        return value

    def duration(self, obj: dict[str, Any], key: str, path: str) -> int | None:
        value = obj.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise DecodeError(
                f"{path}{key}: json: cannot unmarshal {_json_type(value)} into a duration string"
            )
        try:
            return goduration.parse(value)
        except goduration.DurationError as err:
            raise DecodeError(str(err)) from None

    def provider(self, raw: Any, index: int) -> CredentialProvider:
        path = f"providers[{index}]."
        obj = self.object(raw, "CredentialProviderConfig.providers", path[:-1])
        self.check_fields(obj, self.provider_fields, path)
        env_raw = obj.get("env") or []
        if not isinstance(env_raw, list):
            raise self.type_error(env_raw, "CredentialProvider", "providers.env", "[]ExecEnvVar")
        env = []
        for j, item in enumerate(env_raw):
            epath = f"{path}env[{j}]."
            entry = self.object(item, "CredentialProvider.env", epath[:-1])
            self.check_fields(entry, ("name", "value"), epath)
            env.append(
                ExecEnvVar(
                    self.string(entry, "name", "ExecEnvVar", "env."),
                    self.string(entry, "value", "ExecEnvVar", "env."),
                )
            )
        token = None
        if "tokenAttributes" in self.provider_fields and obj.get("tokenAttributes") is not None:
            token = self.token_attributes(obj["tokenAttributes"], path + "tokenAttributes.")
        return CredentialProvider(
            name=self.string(obj, "name", "CredentialProvider", "providers."),
            match_images=self.strings(obj, "matchImages", "CredentialProvider", "providers."),
            default_cache_duration=self.duration(obj, "defaultCacheDuration", path),
            api_version=self.string(obj, "apiVersion", "CredentialProvider", "providers."),
            args=self.strings(obj, "args", "CredentialProvider", "providers."),
            env=tuple(env),
            token_attributes=token,
        )

    def token_attributes(self, raw: Any, path: str) -> TokenAttributes:
        obj = self.object(raw, "CredentialProvider.tokenAttributes", path[:-1])
        self.check_fields(obj, self.token_fields, path)
        struct, prefix = "ServiceAccountTokenAttributes", "providers.tokenAttributes."
        require = obj.get("requireServiceAccount")
        if require is not None and not isinstance(require, bool):
            raise self.type_error(require, struct, prefix + "requireServiceAccount", "bool")
        return TokenAttributes(
            service_account_token_audience=self.string(obj, "serviceAccountTokenAudience", struct, prefix),
            cache_type=self.string(obj, "cacheType", struct, prefix)
            if "cacheType" in self.token_fields
            else "",
            require_service_account=require,
            required_annotation_keys=self.strings(
                obj, "requiredServiceAccountAnnotationKeys", struct, prefix
            ),
            optional_annotation_keys=self.strings(
                obj, "optionalServiceAccountAnnotationKeys", struct, prefix
            ),
        )


def _group_version(doc: dict[str, Any], raw: bytes) -> tuple[str, str, str]:
    snippet = raw[:200].decode("utf-8", errors="replace").strip()
    kind = doc.get("kind")
    api_version = doc.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        raise DecodeError(f"Object 'Kind' is missing in '{snippet}'")
    if not isinstance(api_version, str) or not api_version:
        raise DecodeError(f"Object 'apiVersion' is missing in '{snippet}'")
    if api_version.count("/") > 1:
        raise DecodeError(f"unexpected GroupVersion string: {api_version}")
    group, _, version = api_version.rpartition("/")
    return kind, group, version


def decode_document(document: Document, raw: bytes, version: KubeletVersion) -> CredentialProviderConfig:
    data = document.data
    if data is None:
        raise DecodeError(f"Object 'Kind' is missing in '{raw[:200].decode('utf-8', 'replace').strip()}'")
    if not isinstance(data, dict):
        raise DecodeError(
            f"couldn't get version/kind; json parse error: cannot unmarshal {_json_type(data)} "
            "into Go value of type struct { APIVersion string; Kind string }"
        )
    kind, group, api_version = _group_version(data, raw)
    gv = f"{group}/{api_version}" if group else api_version
    known_versions = version.config_versions()
    if (
        group != CONFIG_GROUP
        or api_version not in known_versions
        or (kind != "CredentialProviderConfig" and kind not in _OTHER_KINDS.get(api_version, set()))
    ):
        raise DecodeError(f'no kind "{kind}" is registered for version "{gv}" in scheme "kubelet"')
    if kind != "CredentialProviderConfig":
        raise DecodeError(f'failed to decode "{kind}" (wrong Kind)')

    provider_fields: tuple[str, ...] = _PROVIDER_FIELDS
    token_fields: tuple[str, ...] = _TOKEN_FIELDS
    if api_version == "v1" and version.has_token_attributes:
        provider_fields += ("tokenAttributes",)
        if version.has_cache_type:
            token_fields += ("cacheType",)
    reader = _Reader(version.strict_decoding, provider_fields, token_fields)
    reader.check_fields(data, ("kind", "apiVersion", "providers"), "")
    providers_raw = data.get("providers") or []
    if not isinstance(providers_raw, list):
        raise reader.type_error(
            providers_raw, "CredentialProviderConfig", "providers", "[]CredentialProvider"
        )
    providers = tuple(reader.provider(p, i) for i, p in enumerate(providers_raw))
    if version.strict_decoding:
        strict = [f"yaml: unmarshal errors: {d}" for d in document.duplicates if d.startswith("line")]
        strict += [d for d in document.duplicates if not d.startswith("line")]
        strict += reader.unknown
        if strict:
            raise DecodeError("strict decoding error: " + ", ".join(strict))
    return CredentialProviderConfig(providers=providers)


def decode(raw: bytes, version: KubeletVersion | None = None) -> CredentialProviderConfig:
    """Decode one file's bytes as the kubelet of VERSION (default: newest) would."""
    version = version or KubeletVersion.newest()
    try:
        document = read_document(raw)
    except DocumentError as err:
        raise DecodeError(str(err)) from None
    return decode_document(document, raw, version)
