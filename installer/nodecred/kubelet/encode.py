"""Write CredentialProviderConfig files, and edit someone else's without disturbing it.

`render` writes nodecred's own file as canonical v1 YAML or JSON. `merge` upserts
or removes providers by name in an existing file (EKS's config.json, a k3s
config.yaml), keeping the other providers, their order, the file's apiVersion and
its format: a JSON file stays JSON with its indentation, YAML stays YAML (YAML
comments do not survive a rewrite; uninstall restores the original bytes when
the file is unchanged since nodecred wrote it). No change -> the same bytes.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from nodecred.kubelet import goduration
from nodecred.kubelet.documents import DocumentError, read_document
from nodecred.kubelet.model import CredentialProvider, CredentialProviderConfig
from nodecred.kubelet.versions import CONFIG_GROUP

CONFIG_V1 = f"{CONFIG_GROUP}/v1"


class MergeError(ValueError):
    """The existing file cannot be edited safely; the host stays as it is."""


def provider_to_dict(provider: CredentialProvider, with_token_attributes: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {"name": provider.name, "matchImages": list(provider.match_images)}
    if provider.default_cache_duration is not None:
        out["defaultCacheDuration"] = goduration.format(provider.default_cache_duration)
    out["apiVersion"] = provider.api_version
    if provider.args:
        out["args"] = list(provider.args)
    if provider.env:
        out["env"] = [{"name": e.name, "value": e.value} for e in provider.env]
    attrs = provider.token_attributes
    if attrs is not None and with_token_attributes:
        token: dict[str, Any] = {"serviceAccountTokenAudience": attrs.service_account_token_audience}
        if attrs.cache_type:
            token["cacheType"] = attrs.cache_type
        if attrs.require_service_account is not None:
            token["requireServiceAccount"] = attrs.require_service_account
        if attrs.required_annotation_keys:
            token["requiredServiceAccountAnnotationKeys"] = list(attrs.required_annotation_keys)
        if attrs.optional_annotation_keys:
            token["optionalServiceAccountAnnotationKeys"] = list(attrs.optional_annotation_keys)
        out["tokenAttributes"] = token
    return out


# libyaml's emitter when PyYAML was built with it (it is, in the wheels): the same document as
# the pure-Python one, at a tenth of the CPU, and every agent renders this on every pass.
_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _dump_yaml(data: dict[str, Any]) -> bytes:
    text = yaml.dump(data, Dumper=_DUMPER, sort_keys=False, default_flow_style=False, allow_unicode=True)
    return str(text).encode()


def _dump_json(data: dict[str, Any], indent: str | None) -> bytes:
    if indent is None:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()
    return json.dumps(data, indent=indent, ensure_ascii=False).encode()


def render(config: CredentialProviderConfig, fmt: str = "yaml") -> bytes:
    """nodecred's own config file: kubelet.config.k8s.io/v1, providers in the given order."""
    data = {
        "apiVersion": CONFIG_V1,
        "kind": "CredentialProviderConfig",
        "providers": [provider_to_dict(p) for p in config.providers],
    }
    return _dump_json(data, "  ") + b"\n" if fmt == "json" else _dump_yaml(data)


def _json_indent(text: str) -> str | None:
    m = re.search(r"\n([ \t]+)\S", text)
    if m:
        return m.group(1)
    return None if "\n" not in text.strip() else ""


def merge(
    raw: bytes,
    upsert: list[CredentialProvider] | tuple[CredentialProvider, ...] = (),
    remove: set[str] | frozenset[str] = frozenset(),
) -> bytes:
    """RAW with providers named in UPSERT replaced in place (or appended) and REMOVE dropped."""
    try:
        document = read_document(raw)
    except DocumentError as err:
        raise MergeError(f"cannot read the existing file: {err}") from None
    data = document.data
    if not isinstance(data, dict) or not isinstance(data.get("providers") or [], list):
        raise MergeError("the existing file is not a CredentialProviderConfig object with a providers list")
    v1 = data.get("apiVersion") == CONFIG_V1
    providers: list[Any] = list(data.get("providers") or [])
    wanted = {p.name: provider_to_dict(p, with_token_attributes=v1) for p in upsert}
    result: list[Any] = []
    for entry in providers:
        name = entry.get("name") if isinstance(entry, dict) else None
        if name in remove:
            continue
        result.append(wanted.pop(name) if name in wanted else entry)
    result.extend(wanted.values())
    if result == providers:
        return raw
    data["providers"] = result
    if document.fmt == "json":
        text = raw.decode("utf-8", errors="replace")
        out = _dump_json(data, _json_indent(text))
        return out + b"\n" if raw.endswith(b"\n") else out
    out = _dump_yaml(data)
    return b"---\n" + out if raw.lstrip().startswith(b"---") else out
