"""One HTTP call inside the invocation's deadline, for the backends that speak plain HTTP.

urllib, not a client library: four small JSON endpoints do not earn a dependency in the
frozen binary. Metadata services are called without a proxy (they are link-local and Azure
forbids proxies); registry and federation endpoints honour HTTPS_PROXY/HTTP_PROXY/NO_PROXY.
Statuses 429 and 5xx become ThrottledError, retried by with_retry inside the deadline with the
server's Retry-After; every other status is returned for the backend to name.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from nodecred.provider.retry import retry_after
from nodecred.provider.token import BackendError, Deadline, ThrottledError

MAX_BODY = 1024 * 1024  # token answers are a few KB; a bigger one is not a token answer


@dataclass(frozen=True)
class Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes = field(repr=False)
    what: str = ""

    def ok(self, fix: str = "", statuses: tuple[int, ...] = (401, 403)) -> Reply:
        """This reply when it is a 200; else one line: what refused, why, and FIX for STATUSES."""
        if self.status == 200:
            return self
        why = f"{self.status} {self.reason()}".rstrip()
        if fix and self.status in statuses:
            raise BackendError(f"{self.what} refused the request ({why}): {fix}")
        raise BackendError(f"{self.what} answered {why}")

    def json(self) -> dict[str, Any]:
        try:
            data = json.loads(self.body)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise BackendError(f"{self.what} answered {self.status} with a body that is not a JSON object")
        return data

    def field(self, name: str) -> str:
        """A non-empty string field of the JSON body."""
        value = self.json().get(name)
        if not isinstance(value, str) or not value:
            raise BackendError(f"{self.what} answered without a {name!r} field")
        return value

    def reason(self) -> str:
        """A short, secret-free reason from an error body: OCI {code,message}, OAuth {error,...}."""
        try:
            data = json.loads(self.body)
        except ValueError:
            return ""
        if not isinstance(data, dict):
            return ""
        parts = [data.get(k) for k in ("code", "error", "message", "error_description")]
        text = ": ".join(str(p) for p in parts if isinstance(p, str) and p)
        return " ".join(text.split())[:200]


_OPENERS: dict[bool, urllib.request.OpenerDirector] = {}


def _opener(proxy: bool) -> urllib.request.OpenerDirector:
    if proxy not in _OPENERS:
        # ProxyHandler() reads the proxy variables (and NO_PROXY) from the environment.
        handler = urllib.request.ProxyHandler() if proxy else urllib.request.ProxyHandler({})
        _OPENERS[proxy] = urllib.request.build_opener(handler)
    return _OPENERS[proxy]


def call(
    method: str,
    url: str,
    *,
    what: str,
    deadline: Deadline,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    proxy: bool = True,
) -> Reply:
    """METHOD URL; WHAT names the endpoint in errors (never the URL's query, never a header)."""
    remaining = deadline.remaining()
    if remaining <= 0:
        raise BackendError(f"no time left to call {what}")
    if not url.startswith(("http://", "https://")):
        raise BackendError(f"{what}: {url!r} is not an http(s) URL")
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))  # noqa: S310
    try:
        with _opener(proxy).open(request, timeout=remaining) as response:
            reply = Reply(response.status, dict(response.headers), _read(response, what), what)
    except urllib.error.HTTPError as err:
        with err:
            reply = Reply(err.code, dict(err.headers or {}), _read(err, what), what)
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, socket.timeout | TimeoutError):
            raise BackendError(f"{what} did not answer before the deadline") from None
        raise BackendError(f"cannot reach {what}: {reason}") from None
    if reply.status == 429 or reply.status >= 500:
        raise ThrottledError(f"{what} answered {reply.status}", retry_after(reply.headers))
    return reply


def _read(response: Any, what: str) -> bytes:
    try:
        data: bytes = response.read(MAX_BODY + 1)
    except OSError as err:  # TimeoutError included
        raise BackendError(f"{what} stopped answering: {err}") from None
    if len(data) > MAX_BODY:
        raise BackendError(f"{what} answered with more than {MAX_BODY} bytes")
    return data
