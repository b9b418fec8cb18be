"""Go's time.ParseDuration and time.Duration.String, exactly.

Hand-written because the kubelet parses every duration (defaultCacheDuration,
cacheDuration) with Go's rules, which no Python library reproduces: units
ns/us/µs/ms/s/m/h, fractions, signs, "0" without a unit, int64 nanoseconds.
Durations are ints of nanoseconds.
"""

from __future__ import annotations

NANOSECOND = 1
MICROSECOND = 1000 * NANOSECOND
MILLISECOND = 1000 * MICROSECOND
SECOND = 1000 * MILLISECOND
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_MAX = (1 << 63) - 1
_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # U+00B5 micro sign
    "\u03bcs": MICROSECOND,  # U+03BC Greek mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
}


class DurationError(ValueError):
    """The text is not a Go duration; the message is Go's."""


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _invalid(orig: str) -> DurationError:
    return DurationError("time: invalid duration " + _quote(orig))


def _leading_int(s: str) -> tuple[int, str]:
    i = 0
    x = 0
    while i < len(s) and "0" <= s[i] <= "9":
        x = x * 10 + ord(s[i]) - 48
        if x > 1 << 63:
            raise OverflowError
        i += 1
    return x, s[i:]


def _leading_fraction(s: str) -> tuple[int, float, str]:
    i = 0
    x = 0
    scale = 1.0
    overflow = False
    while i < len(s) and "0" <= s[i] <= "9":
        if not overflow:
            if x > _MAX // 10:
                overflow = True
            else:
                y = x * 10 + ord(s[i]) - 48
                if y > 1 << 63:
                    overflow = True
                else:
                    x = y
                    scale *= 10
        i += 1
    return x, scale, s[i:]


def parse(text: str) -> int:
    """Parse like time.ParseDuration; return nanoseconds."""
    orig = text
    s = text
    neg = False
    if s and s[0] in "+-":
        neg = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if not s:
        raise _invalid(orig)
    total = 0
    while s:
        if not (s[0] == "." or "0" <= s[0] <= "9"):
            raise _invalid(orig)
        before = len(s)
        try:
            v, s = _leading_int(s)
        except OverflowError:
            raise _invalid(orig) from None
        pre = before != len(s)
        post = False
        f, scale = 0, 1.0
        if s and s[0] == ".":
            s = s[1:]
            before = len(s)
            f, scale, s = _leading_fraction(s)
            post = before != len(s)
        if not pre and not post:
            raise _invalid(orig)
        i = 0
        while i < len(s) and not (s[i] == "." or "0" <= s[i] <= "9"):
            i += 1
        if i == 0:
            raise DurationError("time: missing unit in duration " + _quote(orig))
        unit_text, s = s[:i], s[i:]
        unit = _UNITS.get(unit_text)
        if unit is None:
            raise DurationError("time: unknown unit " + _quote(unit_text) + " in duration " + _quote(orig))
        if v > (1 << 63) // unit:
            raise _invalid(orig)
        v *= unit
        if f > 0:
            # Go does this step in float64 too; keep its rounding.
            v += int(float(f) * (float(unit) / scale))
            if v > 1 << 63:
                raise _invalid(orig)
        total += v
        if total > 1 << 63:
            raise _invalid(orig)
    if neg:
        return -total
    if total > _MAX:
        raise _invalid(orig)
    return total


def _frac(u: int, prec: int) -> tuple[str, int]:
    digits = ""
    printed = False
    for _ in range(prec):
        digit = u % 10
        printed = printed or digit != 0
        if printed:
            digits = str(digit) + digits
        u //= 10
    return ("." + digits if printed else ""), u


def format(ns: int) -> str:
    """Format like Go's Duration.String: 1h0m0s, 1m30s, 1.5s, 300ms, 0s."""
    neg = ns < 0
    u = -ns if neg else ns
    if u < SECOND:
        if u == 0:
            return "0s"
        if u < MICROSECOND:
            prec, unit = 0, "ns"
        elif u < MILLISECOND:
            prec, unit = 3, "\u00b5s"
        else:
            prec, unit = 6, "ms"
        frac, u = _frac(u, prec)
        text = f"{u}{frac}{unit}"
    else:
        frac, u = _frac(u, 9)
        text = f"{u % 60}{frac}s"
        u //= 60
        if u > 0:
            text = f"{u % 60}m" + text
            u //= 60
            if u > 0:
                text = f"{u}h" + text
    return "-" + text if neg else text
