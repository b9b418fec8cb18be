"""Jittered retry of throttled token calls, never past the deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import TypeVar

from nodecred.provider.token import BackendError, Deadline, ThrottledError

T = TypeVar("T")


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from an HTTP Retry-After header (delta-seconds or HTTP-date, RFC 9110)."""
    value = next((v for k, v in headers.items() if k.lower() == "retry-after"), "").strip()
    if not value:
        return None
    if value.isdigit():
        return float(value)
    import email.utils  # lazily: 10 ms of imports that a call without Retry-After never needs

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None  # unparseable: fall back to our own jittered backoff
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def with_retry(call: Callable[[], T], deadline: Deadline, base: float = 0.2, cap: float = 5.0) -> T:
    attempt = 0
    while True:
        try:
            return call()
        except ThrottledError as err:
            # Full jitter (AWS architecture blog): spreads a fleet's retries apart. Not crypto.
            jitter = random.uniform(0, min(cap, base * 2**attempt))  # noqa: S311
            delay = err.retry_after if err.retry_after is not None else jitter
            if delay >= deadline.remaining():
                raise BackendError(f"{err}; still throttled when the deadline ran out") from None
            time.sleep(delay)
            attempt += 1
