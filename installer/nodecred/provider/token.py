"""A credential a backend returns, and the errors backends raise."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from nodecred.errors import NodecredError


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
