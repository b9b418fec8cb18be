"""Static credentials from root-only files: a password file, or a docker config.json."""

from __future__ import annotations

import base64
import binascii
import json
import os
import stat
from typing import Any

from nodecred.kubelet.keyring import normalize_auth_key
from nodecred.kubelet.match import urls_match
from nodecred.provider.token import BackendError, Deadline, Token

_MAX_SECRET_BYTES = 1024 * 1024


def read_secret_file(path: str) -> bytes:
    """The bytes of a secret file, refused unless it is root's and readable by root alone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as err:
        raise BackendError(f"secret file {path}: {err.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != 0:
            raise BackendError(
                f"secret file {path} is owned by uid {info.st_uid}, not root: chown root {path}"
            )
        if mode & 0o077:
            raise BackendError(
                f"secret file {path} has mode {mode:04o}, readable beyond root: chmod 600 {path}"
            )
        return handle.read(_MAX_SECRET_BYTES)


def _from_docker_config(path: str, host: str) -> Token:
    try:
        auths = json.loads(read_secret_file(path)).get("auths", {})
    except (ValueError, AttributeError):
        raise BackendError(f'{path}: not a docker config.json (expected {{"auths": {{...}}}})') from None
    for key, entry in auths.items():
        normalized = normalize_auth_key(key)
        if normalized is None or not isinstance(entry, dict) or not urls_match(normalized, host):
            continue
        if entry.get("auth"):
            try:
                user, sep, password = base64.b64decode(entry["auth"], validate=True).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                raise BackendError(f"{path}: auths[{key!r}].auth is not base64 of user:password") from None
            if not sep:
                raise BackendError(f"{path}: auths[{key!r}].auth does not decode to user:password")
            return Token(user, password)
        return Token(str(entry.get("username", "")), str(entry.get("password", "")))
    raise BackendError(f"{path} has no auths entry for {host}; add one keyed by the registry host")


class StaticBackend:
    cacheable = False  # a local file read is cheaper than the cache

    def __init__(self, options: dict[str, Any]) -> None:
        self.username = str(options.get("username", ""))
        self.password_file = str(options.get("passwordFile", ""))
        self.config_file = str(options.get("configFile", ""))

    def cache_key(self, host: str) -> str:
        return f"static/{host}"

    def fetch(self, host: str, deadline: Deadline) -> Token:
        if self.config_file:
            return _from_docker_config(self.config_file, host)
        password = read_secret_file(self.password_file).decode("utf-8", errors="strict").rstrip("\r\n")
        return Token(self.username, password)


def build(options: dict[str, Any], env: dict[str, str]) -> StaticBackend:
    return StaticBackend(options)
