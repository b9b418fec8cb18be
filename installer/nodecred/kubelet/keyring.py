"""BasicDockerKeyring: how the kubelet files and finds the auth entries a provider returns."""

from __future__ import annotations

from dataclasses import dataclass, field

from nodecred.kubelet.gourl import URLError, parse_schemeless
from nodecred.kubelet.match import urls_match

DEFAULT_REGISTRY_HOST = "index.docker.io"


@dataclass(frozen=True)
class AuthConfig:
    username: str
    password: str = field(repr=False)
    email: str = ""


def normalize_auth_key(key: str) -> str | None:
    """The index key `Add` files an auth entry under; None where the kubelet ignores it."""
    value = key
    for scheme in ("https://", "http://"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
            break
    try:
        parsed = parse_schemeless(value)
    except URLError:
        return None
    path = parsed.path
    if path.startswith(("/v2/", "/v1/")):
        path = path[3:]
    return parsed.host + path if path and path != "/" else parsed.host


def is_default_registry_match(image: str) -> bool:
    first = image.partition("/")[0]
    if not first:
        return False
    if "/" not in image:
        return True
    if first in ("docker.io", DEFAULT_REGISTRY_HOST):
        return True
    return not any(c in first for c in ".:")


@dataclass
class Keyring:
    """Keys reverse-sorted so longer (more specific) keys are tried first."""

    creds: dict[str, list[AuthConfig]] = field(default_factory=dict)

    def add(self, entries: dict[str, AuthConfig]) -> None:
        for loc, auth in entries.items():
            key = normalize_auth_key(loc)
            if key is not None:
                self.creds.setdefault(key, []).append(auth)

    def index(self) -> list[str]:
        return sorted(self.creds, reverse=True)

    def lookup(self, image: str) -> list[AuthConfig]:
        found = [auth for key in self.index() if urls_match(key, image) for auth in self.creds[key]]
        if found:
            return found
        if is_default_registry_match(image):
            return list(self.creds.get(DEFAULT_REGISTRY_HOST, []))
        return []
