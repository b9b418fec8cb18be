"""Retry-After parsing (RFC 9110 §10.2.3): delta-seconds or an HTTP-date."""

from __future__ import annotations

import pytest

from nodecred.provider.retry import retry_after

NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": " 0 "}, 0.0),
        ({"Retry-After": "Wed, 18 Nov 2026 11:06:50 GMT"}, 10.0),
        ({"Retry-After": "Wed, 18 Nov 2026 11:06:00 GMT"}, 0.0),  # in the past: go now
        ({"Retry-After": "-5"}, None),
        ({"Retry-After": "soon"}, None),
        ({"Retry-After": "Wed, 18 Nov 2026 11:06:50"}, None),  # no zone: not an HTTP-date
        ({"Content-Type": "application/json"}, None),
        ({}, None),
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=NOW) == expected
