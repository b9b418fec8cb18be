"""Jittered retry of throttled token calls, never past the deadline."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

from nodecred.provider.token import BackendError, Deadline, ThrottledError

T = TypeVar("T")


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
