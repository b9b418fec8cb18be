"""ProviderSettings (/etc/nodecred/provider.yaml), read on every call.

Every error names the field and the fix; the shape is DESIGN.md's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from nodecred.errors import ConfigError
from nodecred.kubelet import goduration
from nodecred.kubelet.gourl import URLError, parse_schemeless

API_VERSION = "nodecred.io/v1alpha1"
KIND = "ProviderSettings"
DEFAULT_PATH = "/etc/nodecred/provider.yaml"
BACKENDS = ("ecr", "static", "helper", "ocir", "gcp", "acr")
_MAX_BYTES = 1024 * 1024
OCIR_AUTH = ("instance_principal", "user_principal")


@dataclass(frozen=True)
class Registry:
    match: tuple[str, ...]
    backend: str
    options: dict[str, Any] = field(default_factory=dict)
    cache_duration: int | None = None  # for credentials that carry no expiry of their own
    probe_image: str = ""  # the agent asks the installed provider for this image (never used here)


@dataclass(frozen=True)
class ProviderSettings:
    cache_dir: str = "/var/lib/nodecred/cache"
    unmatched_cache_duration: int = 5 * goduration.MINUTE
    timeout: int = 20 * goduration.SECOND
    registries: tuple[Registry, ...] = ()


_BACKEND_FIELDS: dict[str, dict[str, type]] = {
    "ecr": {"roleArn": str, "region": str},
    "static": {"username": str, "passwordFile": str, "configFile": str},
    "helper": {"name": str, "timeout": str},
    "ocir": {
        "auth": str,
        "configFile": str,
        "profile": str,
        "metadataEndpoint": str,
        "federationEndpoint": str,
        "registryEndpoint": str,
    },
    "gcp": {"serviceAccount": str, "metadataEndpoint": str},
    "acr": {"clientId": str, "metadataEndpoint": str, "registryEndpoint": str},
}


def _duration(value: Any, where: str) -> int:
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a duration string such as 5m or 1h30m, got {value!r}")
    try:
        parsed = goduration.parse(value)
    except goduration.DurationError as err:
        raise ConfigError(f"{where}: {err}; write it like 5m or 1h30m") from None
    if parsed < 0:
        raise ConfigError(f"{where}: must not be negative")
    return parsed


def _options(backend: str, raw: Any, where: str) -> dict[str, Any]:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}.{backend}: expected a mapping of options, got {type(raw).__name__}")
    allowed = _BACKEND_FIELDS[backend]
    for key, value in raw.items():
        if key not in allowed:
            known = ", ".join(allowed) or "none"
            raise ConfigError(f"{where}.{backend}.{key}: unknown option (known: {known})")
        if not isinstance(value, allowed[key]):
            raise ConfigError(f"{where}.{backend}.{key}: expected a string, got {value!r}")
    if backend == "static":
        if bool(raw.get("passwordFile")) == bool(raw.get("configFile")):
            raise ConfigError(
                f"{where}.static: give exactly one of passwordFile (with username) or configFile"
            )
        if raw.get("passwordFile") and not raw.get("username"):
            raise ConfigError(f"{where}.static.username: required with passwordFile")
    if backend == "ocir" and raw.get("auth", "instance_principal") not in OCIR_AUTH:
        raise ConfigError(f"{where}.ocir.auth: {raw['auth']!r}; use one of {', '.join(OCIR_AUTH)}")
    for key, value in raw.items():
        if key.endswith("Endpoint") and value and not value.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.{backend}.{key}: give a URL such as https://host[:port]")
    if backend == "helper" and not str(raw.get("name", "")).replace("-", "").replace("_", "").isalnum():
        raise ConfigError(
            f"{where}.helper.name: give NAME as in docker-credential-NAME (letters, digits, - and _)"
        )
    return dict(raw)


def image_patterns(value: Any, where: str) -> tuple[str, ...]:
    """A non-empty list of kubelet matchImages patterns (a single string is one pattern)."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(m, str) and m for m in value):
        raise ConfigError(f'{where}: give a list of image patterns, e.g. ["*.azurecr.io"]')
    for pattern in value:
        try:
            parse_schemeless(pattern)
        except URLError as err:
            raise ConfigError(f"{where}: {pattern!r} is not a valid pattern: {err}") from None
    return tuple(value)


def _registry(raw: Any, index: int) -> Registry:
    where = f"registries[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping with match and one backend key")
    match = image_patterns(raw.get("match"), f"{where}.match")
    backends = [k for k in raw if k in BACKENDS]
    unknown = [k for k in raw if k not in (*BACKENDS, "match", "cacheDuration", "probeImage")]
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]}: unknown key; backends are {', '.join(BACKENDS)}")
    if len(backends) != 1:
        raise ConfigError(
            f"{where}: give exactly one backend key ({', '.join(BACKENDS)}), found {len(backends)}"
        )
    backend = backends[0]
    cache = raw.get("cacheDuration")
    return Registry(
        match=tuple(match),
        backend=backend,
        options=_options(backend, raw[backend], where),
        cache_duration=_duration(cache, f"{where}.cacheDuration") if cache is not None else None,
        probe_image=_probe_image(raw.get("probeImage"), where, tuple(match)),
    )


def _probe_image(value: Any, where: str, match: tuple[str, ...]) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or not value or "/" not in value:
        raise ConfigError(f"{where}.probeImage: give an image this registry serves, e.g. {match[0]}/team/app")
    return value


def _timeout(raw: Any) -> int:
    timeout = _duration(raw, "timeout")
    if not 0 < timeout <= 55 * goduration.SECOND:
        raise ConfigError("timeout: must be above 0 and at most 55s (the kubelet kills the plugin at 60s)")
    return timeout


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    for key, value in pairs:
        if key in seen:
            raise ConfigError(f"{key}: set twice; give each key once")
        seen[key] = value
    return seen


def _document(data: bytes, source: str) -> Any:
    """JSON or YAML. The agent writes JSON (a YAML subset) because this runs on every kubelet
    exec and importing a YAML parser costs ~15 ms of the 100 ms budget; operators may write YAML."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not UTF-8 text") from None
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text, object_pairs_hook=_unique_keys)
        except ConfigError as err:
            raise ConfigError(f"{source}: {err}") from None
        except ValueError as err:
            raise ConfigError(f"{source}: not valid JSON: {err}") from None
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's, when present: start-up time
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as err:
        raise ConfigError(f"{source}: not valid YAML: {str(err).splitlines()[0]}") from None


def parse(data: bytes, source: str = DEFAULT_PATH) -> ProviderSettings:
    if len(data) > _MAX_BYTES:
        raise ConfigError(f"{source}: {len(data)} bytes; provider settings are at most 1 MiB")
    raw = _document(data, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a ProviderSettings mapping")
    if raw.get("apiVersion") != API_VERSION or raw.get("kind") != KIND:
        raise ConfigError(f"{source}: set apiVersion: {API_VERSION} and kind: {KIND}")
    known = {"apiVersion", "kind", "cacheDir", "unmatchedCacheDuration", "timeout", "registries"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{source}: {key}: unknown field (known: {', '.join(sorted(known))})")
    registries = raw.get("registries") or []
    if not isinstance(registries, list):
        raise ConfigError(f"{source}: registries: expected a list")
    try:
        timeout = _timeout(raw.get("timeout", "20s"))
        return ProviderSettings(
            cache_dir=str(raw.get("cacheDir") or ProviderSettings.cache_dir),
            unmatched_cache_duration=_duration(
                raw.get("unmatchedCacheDuration", "5m"), "unmatchedCacheDuration"
            ),
            timeout=timeout,
            registries=tuple(_registry(r, i) for i, r in enumerate(registries)),
        )
    except ConfigError as err:
        raise ConfigError(f"{source}: {err}") from None


def load(path: str) -> ProviderSettings:
    try:
        with open(path, "rb") as handle:
            data = handle.read(_MAX_BYTES + 1)
    except OSError as err:
        raise ConfigError(f"{path}: cannot read provider settings: {err.strerror}") from None
    return parse(data, path)
