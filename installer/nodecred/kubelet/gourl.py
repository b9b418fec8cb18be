"""The pieces of Go's net/url, net and path/filepath that the kubelet matches images with.

Hand-written because the kubelet's verdicts depend on Go's exact behaviour:
`url.Parse("https://" + s)` decides which matchImages are invalid (and with
which message), `net.SplitHostPort` decides the port, and `filepath.Match`
(not fnmatch: `[^a]` negates, `\\` escapes, a malformed class is an error)
decides each label. urllib.parse accepts and rejects different strings.
"""

from __future__ import annotations

from dataclasses import dataclass


class URLError(ValueError):
    """Go's *url.Error text: parse "https://x": reason."""


class BadPattern(ValueError):
    """Go's filepath.ErrBadPattern."""

    def __init__(self) -> None:
        super().__init__("syntax error in pattern")


@dataclass(frozen=True)
class ParsedURL:
    host: str  # unescaped, with port when given
    path: str  # unescaped


def _go_quote(s: str) -> str:
    out = []
    for ch in s:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


_HOST_OK = set("!$&'()*+,;=:[]<>\"-_.~")
_USERINFO_OK = set("-._:~!$&'()*+,;=%@")


def _is_hex(c: str) -> bool:
    return c in "0123456789abcdefABCDEF"


def _unescape(s: str, host: bool) -> str:
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == "%":
            if i + 2 >= len(s) or not _is_hex(s[i + 1]) or not _is_hex(s[i + 2]):
                raise ValueError("invalid URL escape " + _go_quote(s[i : i + 3]))
            if host and int(s[i + 1], 16) < 8 and s[i : i + 3] != "%25":
                raise ValueError("invalid URL escape " + _go_quote(s[i : i + 3]))
            out.append(int(s[i + 1 : i + 3], 16))
            i += 3
            continue
        if host and ord(c) < 0x80 and not (c.isascii() and c.isalnum()) and c not in _HOST_OK:
            raise ValueError("invalid character " + _go_quote(c) + " in host name")
        out.extend(c.encode())
        i += 1
    return out.decode("utf-8", errors="surrogateescape")


def _valid_optional_port(port: str) -> bool:
    if port == "":
        return True
    return port[0] == ":" and all("0" <= c <= "9" for c in port[1:])


def _parse_host(host: str) -> str:
    if host.startswith("["):
        i = host.rfind("]")
        if i < 0:
            raise ValueError("missing ']' in host")
        colon_port = host[i + 1 :]
        if not _valid_optional_port(colon_port):
            raise ValueError(f"invalid port {_go_quote(colon_port)} after host")
    else:
        i = host.rfind(":")
        if i != -1 and not _valid_optional_port(host[i:]):
            raise ValueError(f"invalid port {_go_quote(host[i:])} after host")
    return _unescape(host, host=True)


def _check_userinfo(userinfo: str) -> None:
    if any(not (c.isascii() and c.isalnum()) and c not in _USERINFO_OK for c in userinfo):
        raise ValueError("net/url: invalid userinfo")
    _unescape(userinfo, host=False)


def _parse(raw: str) -> ParsedURL:
    """Go's url.parse for an absolute URL with an authority; ValueError carries Go's reason."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise ValueError("net/url: invalid control character in URL")
    rest, _, fragment = raw.partition("#")
    rest = rest[rest.index(":") + 1 :]
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest = rest.partition("?")[0]
    authority, slash, path = rest[2:].partition("/")
    at = authority.rfind("@")
    host = _parse_host(authority[at + 1 :])
    if at >= 0:
        _check_userinfo(authority[:at])
    path = _unescape(slash + path, host=False)
    _unescape(fragment, host=False)
    return ParsedURL(host=host, path=path)


def parse_schemeless(s: str) -> ParsedURL:
    """url.Parse("https://" + s), as credentialprovider.ParseSchemelessURL does."""
    raw = "https://" + s
    try:
        return _parse(raw)
    except ValueError as err:
        raise URLError(f"parse {_go_quote(raw)}: {err}") from None


def split_host_port(hostport: str) -> tuple[str, str] | None:
    """net.SplitHostPort; None where Go returns an error."""
    i = hostport.rfind(":")
    if i < 0:
        return None
    j = k = 0
    if hostport[0] == "[":
        end = hostport.find("]")
        if end < 0 or end + 1 != i:
            return None
        host = hostport[1:end]
        j, k = 1, end + 1
    else:
        host = hostport[:i]
        if ":" in host:
            return None
    if "[" in hostport[j:] or "]" in hostport[k:]:
        return None
    return host, hostport[i + 1 :]


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    star = False
    while pattern and pattern[0] == "*":
        pattern = pattern[1:]
        star = True
    in_range = False
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            if i + 1 < len(pattern):
                i += 1
        elif c == "[":
            in_range = True
        elif c == "]":
            in_range = False
        elif c == "*" and not in_range:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _get_esc(chunk: str) -> tuple[str, str]:
    if not chunk or chunk[0] in "-]":
        raise BadPattern
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern
    r, rest = chunk[0], chunk[1:]
    if not rest:
        raise BadPattern
    return r, rest


def _match_chunk(chunk: str, s: str) -> str | None:
    """Go's matchChunk: the rest of s after chunk, or None; BadPattern when malformed."""
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        c = chunk[0]
        if c == "[":
            r = ""
            if not failed:
                r, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = bool(chunk) and chunk[0] == "^"
            if negated:
                chunk = chunk[1:]
            matched = False
            nrange = 0
            while True:
                if chunk and chunk[0] == "]" and nrange > 0:
                    chunk = chunk[1:]
                    break
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                if lo <= r <= hi and r != "":
                    matched = True
                nrange += 1
            if matched == negated:
                failed = True
            continue
        if c == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
            continue
        if c == "\\":
            chunk = chunk[1:]
            if not chunk:
                raise BadPattern
        if not failed:
            if chunk[0] != s[0]:
                failed = True
            s = s[1:]
        chunk = chunk[1:]
    return None if failed else s


def filepath_match(pattern: str, name: str) -> bool:
    """Go's path/filepath.Match on Unix; raises BadPattern like Go returns ErrBadPattern."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and chunk == "":
            return "/" not in name
        rest = _match_chunk(chunk, name)
        if rest is not None and (rest == "" or pattern):
            name = rest
            continue
        if star:
            found = False
            i = 0
            while i < len(name) and name[i] != "/":
                rest = _match_chunk(chunk, name[i + 1 :])
                if rest is not None:
                    if not pattern and rest:
                        i += 1
                        continue
                    name = rest
                    found = True
                    break
                i += 1
            if found:
                continue
        while pattern:
            _, chunk, pattern = _scan_chunk(pattern)
            _match_chunk(chunk, "")
        return False
    return name == ""
