"""Go's time.ParseDuration / Duration.String tables (time_test.go) and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nodecred.kubelet import goduration as d

PARSE = [
    ("0", 0),
    ("5s", 5 * d.SECOND),
    ("30s", 30 * d.SECOND),
    ("1478s", 1478 * d.SECOND),
    ("-5s", -5 * d.SECOND),
    ("+5s", 5 * d.SECOND),
    ("-0", 0),
    ("+0", 0),
    ("5.0s", 5 * d.SECOND),
    ("5.6s", 5 * d.SECOND + 600 * d.MILLISECOND),
    ("5.s", 5 * d.SECOND),
    (".5s", 500 * d.MILLISECOND),
    ("1.0s", d.SECOND),
    ("1.00s", d.SECOND),
    ("1.004s", d.SECOND + 4 * d.MILLISECOND),
    ("100.00100s", 100 * d.SECOND + 1 * d.MILLISECOND),
    ("10ns", 10),
    ("11us", 11 * d.MICROSECOND),
    ("12\u00b5s", 12 * d.MICROSECOND),
    ("12\u03bcs", 12 * d.MICROSECOND),
    ("13ms", 13 * d.MILLISECOND),
    ("14s", 14 * d.SECOND),
    ("15m", 15 * d.MINUTE),
    ("16h", 16 * d.HOUR),
    ("3h30m", 3 * d.HOUR + 30 * d.MINUTE),
    ("10.5s4m", 4 * d.MINUTE + 10 * d.SECOND + 500 * d.MILLISECOND),
    ("-2m3.4s", -(2 * d.MINUTE + 3400 * d.MILLISECOND)),
    (
        "1h2m3s4ms5us6ns",
        d.HOUR + 2 * d.MINUTE + 3 * d.SECOND + 4 * d.MILLISECOND + 5 * d.MICROSECOND + 6,
    ),
    ("39h9m14.425s", 39 * d.HOUR + 9 * d.MINUTE + 14 * d.SECOND + 425 * d.MILLISECOND),
    ("52763797000ns", 52763797000),
    ("0.3333333333333333333h", 20 * d.MINUTE),
    ("9007199254740993ns", (1 << 53) + 1),
    ("9223372036854775807ns", (1 << 63) - 1),
    ("9223372036854775.807us", (1 << 63) - 1),
    ("-9223372036854775808ns", -(1 << 63)),
    ("0.100000000000000000000h", 6 * d.MINUTE),
    ("1.5h", 90 * d.MINUTE),
    ("90m", 90 * d.MINUTE),
    ("300ms", 300 * d.MILLISECOND),
    ("11h30m0s", 11 * d.HOUR + 30 * d.MINUTE),
]

BAD = [
    ("", 'time: invalid duration ""'),
    ("3", 'time: missing unit in duration "3"'),
    ("-", 'time: invalid duration "-"'),
    ("s", 'time: invalid duration "s"'),
    (".", 'time: invalid duration "."'),
    ("-.", 'time: invalid duration "-."'),
    (".s", 'time: invalid duration ".s"'),
    ("+.s", 'time: invalid duration "+.s"'),
    ("1d", 'time: unknown unit "d" in duration "1d"'),
    ("1.1.1s", 'time: missing unit in duration "1.1.1s"'),
    ("\u00b5s", 'time: invalid duration "\u00b5s"'),
    ("9223372036854775810ns", 'time: invalid duration "9223372036854775810ns"'),
    ("9223372036854775808ns", 'time: invalid duration "9223372036854775808ns"'),
    ("-9223372036854775809ns", 'time: invalid duration "-9223372036854775809ns"'),
]

FORMAT = [
    (0, "0s"),
    (1, "1ns"),
    (1100, "1.1\u00b5s"),
    (2200 * d.MICROSECOND, "2.2ms"),
    (3300 * d.MILLISECOND, "3.3s"),
    (4 * d.MINUTE + 5 * d.SECOND, "4m5s"),
    (4 * d.MINUTE + 5001 * d.MILLISECOND, "4m5.001s"),
    (5 * d.HOUR + 6 * d.MINUTE + 7001 * d.MILLISECOND, "5h6m7.001s"),
    (8 * d.MINUTE + 1, "8m0.000000001s"),
    ((1 << 63) - 1, "2562047h47m16.854775807s"),
    (-(1 << 63), "-2562047h47m16.854775808s"),
    (d.HOUR, "1h0m0s"),
    (-d.MINUTE, "-1m0s"),
    (10 * d.MINUTE, "10m0s"),
    (300 * d.MILLISECOND, "300ms"),
]


@pytest.mark.parametrize(("text", "ns"), PARSE)
def test_parse_go_table(text: str, ns: int) -> None:
    assert d.parse(text) == ns


@pytest.mark.parametrize(("text", "message"), BAD)
def test_parse_errors_are_gos(text: str, message: str) -> None:
    with pytest.raises(d.DurationError) as err:
        d.parse(text)
    assert str(err.value) == message


@pytest.mark.parametrize(("ns", "text"), FORMAT)
def test_format_go_table(ns: int, text: str) -> None:
    assert d.format(ns) == text


@given(st.integers(min_value=-(1 << 63) + 1, max_value=(1 << 63) - 1))
def test_format_then_parse_round_trips(ns: int) -> None:
    assert d.parse(d.format(ns)) == ns


@given(st.integers(0, 10_000), st.integers(0, 59), st.integers(0, 59))
def test_hms_parses_to_the_sum(h: int, m: int, s: int) -> None:
    assert d.parse(f"{h}h{m}m{s}s") == h * d.HOUR + m * d.MINUTE + s * d.SECOND
