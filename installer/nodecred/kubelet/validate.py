"""validateCredentialProviderConfig, rule for rule and word for word (kubelet-contract.md §1.3)."""

from __future__ import annotations

from nodecred.kubelet import goduration
from nodecred.kubelet.fielderrors import FieldError, aggregate, qualified_name_errors
from nodecred.kubelet.gourl import URLError, parse_schemeless
from nodecred.kubelet.model import CredentialProvider, CredentialProviderConfig, TokenAttributes
from nodecred.kubelet.versions import EXEC_GROUP, KubeletVersion

_CACHE_TYPES = ("ServiceAccount", "Token")
_EXEC_V1 = f"{EXEC_GROUP}/v1"


def _annotation_keys(path: str, keys: tuple[str, ...]) -> list[FieldError]:
    errs: list[FieldError] = []
    seen: set[str] = set()
    for key in keys:
        # The rule is QualifiedName except that case doesn't matter.
        errs.extend(FieldError(path, "Invalid", key, msg) for msg in qualified_name_errors(key.lower()))
        if key in seen:
            errs.append(FieldError(path, "Duplicate", key))
        seen.add(key)
    return errs


def _token_attributes(
    provider: CredentialProvider, attrs: TokenAttributes, gate_on: bool, with_cache_type: bool
) -> list[FieldError]:
    path = "providers.tokenAttributes"
    errs: list[FieldError] = []
    if not gate_on:
        errs.append(
            FieldError(
                path,
                "Forbidden",
                detail="tokenAttributes is not supported when "
                "KubeletServiceAccountTokenForCredentialProviders feature gate is disabled",
            )
        )
    if not attrs.service_account_token_audience:
        errs.append(FieldError(path + ".serviceAccountTokenAudience", "Required"))
    if attrs.require_service_account is None:
        errs.append(FieldError(path + ".requireServiceAccount", "Required"))
    if provider.api_version != _EXEC_V1:
        errs.append(
            FieldError(
                path,
                "Forbidden",
                detail=f"tokenAttributes is only supported for {_EXEC_V1} API version",
            )
        )
    if attrs.require_service_account is False and attrs.required_annotation_keys:
        errs.append(
            FieldError(
                path + ".requiredServiceAccountAnnotationKeys",
                "Forbidden",
                detail="requireServiceAccount cannot be false when "
                "requiredServiceAccountAnnotationKeys is set",
            )
        )
    errs += _annotation_keys(path + ".requiredServiceAccountAnnotationKeys", attrs.required_annotation_keys)
    errs += _annotation_keys(path + ".optionalServiceAccountAnnotationKeys", attrs.optional_annotation_keys)
    both = sorted(set(attrs.required_annotation_keys) & set(attrs.optional_annotation_keys))
    if both:
        errs.append(FieldError(path, "Invalid", both, "annotation keys cannot be both required and optional"))
    if with_cache_type:
        if not attrs.cache_type:
            errs.append(
                FieldError(
                    path + ".cacheType",
                    "Required",
                    detail="cacheType is required to be set when tokenAttributes is specified. "
                    "Supported values are: " + ", ".join(_CACHE_TYPES),
                )
            )
        elif attrs.cache_type not in _CACHE_TYPES:
            errs.append(
                FieldError(path + ".cacheType", "Unsupported", attrs.cache_type, supported=_CACHE_TYPES)
            )
    return errs


def _provider(
    provider: CredentialProvider, seen: set[str], version: KubeletVersion, gates: dict[str, bool]
) -> list[FieldError]:
    errs: list[FieldError] = []
    name = provider.name
    if "/" in name:
        errs.append(FieldError("providers.name", "Invalid", name, "provider name cannot contain '/'"))
    if " " in name:
        errs.append(FieldError("providers.name", "Invalid", name, "provider name cannot contain spaces"))
    if name in (".", ".."):
        errs.append(FieldError("providers.name", "Invalid", name, f"provider name cannot be '{name}'"))
    if name in seen:
        errs.append(FieldError("providers.name", "Duplicate", name))
    seen.add(name)
    supported = version.exec_api_versions()
    if not provider.api_version:
        errs.append(FieldError("providers.apiVersion", "Required"))
    elif provider.api_version not in supported:
        errs.append(
            FieldError("providers.apiVersion", "Unsupported", provider.api_version, supported=supported)
        )
    if not provider.match_images:
        errs.append(
            FieldError(
                "providers.matchImages",
                "Required",
                detail="at least 1 item in matchImages is required",
            )
        )
    for image in provider.match_images:
        try:
            parse_schemeless(image)
        except URLError as err:
            errs.append(
                FieldError("providers.matchImages", "Invalid", image, f"match image is invalid: {err}")
            )
    if provider.default_cache_duration is None:
        errs.append(FieldError("providers.defaultCacheDuration", "Required"))
    elif provider.default_cache_duration < 0:
        errs.append(
            FieldError(
                "providers.defaultCacheDuration",
                "Invalid",
                goduration.format(provider.default_cache_duration),
                "must be greater than or equal to 0",
            )
        )
    if provider.token_attributes is not None:
        gate_on = gates.get("KubeletServiceAccountTokenForCredentialProviders", False)
        errs += _token_attributes(provider, provider.token_attributes, gate_on, version.has_cache_type)
    return errs


def field_errors(
    config: CredentialProviderConfig,
    version: KubeletVersion | None = None,
    gates: dict[str, bool] | None = None,
) -> list[FieldError]:
    version = version or KubeletVersion.newest()
    gates = version.default_gates() if gates is None else gates
    errs: list[FieldError] = []
    if not config.providers:
        errs.append(FieldError("providers", "Required", detail="at least 1 item in plugins is required"))
    seen: set[str] = set()
    for provider in config.providers:
        errs += _provider(provider, seen, version, gates)
    return errs


def validate(
    config: CredentialProviderConfig,
    version: KubeletVersion | None = None,
    gates: dict[str, bool] | None = None,
) -> str:
    """The kubelet's aggregated error text, or "" when the config is valid."""
    return aggregate(field_errors(config, version, gates))
