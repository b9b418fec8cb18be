"""A credential a backend returns, and the errors backends raise."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from nodecred.errors import NodecredError

# ACR reads a password sent with this username as an ACR refresh token (docker does the same).
ACR_NULL_USER = "00000000-0000-0000-0000-000000000000"


@dataclass(frozen=True)
class Token:
    username: str
    password: str = field(repr=False)
    expires_at: float | None = None  # epoch seconds; None: no expiry of its own

    def valid_for(self, now: float | None = None) -> float | None:
        if self.expires_at is None:
            return None
        return self.expires_at - (time.time() if now is None else now)


class BackendError(NodecredError):
    """A permanent failure: one line naming the cause and the fix (e.g. the missing IAM action)."""


class ThrottledError(NodecredError):
    """The registry's token service asked us to slow down; retried inside the deadline."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Deadline:
    """One overall deadline for the invocation, well under the kubelet's fixed 60 s."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def remaining(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


def unverified_claims(jwt: str) -> dict[str, Any]:
    """The claims of a JWT, not verified: only to learn its expiry or tenant, never to trust it."""
    parts = jwt.split(".")
    if len(parts) != 3:
        return {}
    import base64
    import json

    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}
