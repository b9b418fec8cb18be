"""OCI's HTTP request signature (draft-cavage-http-signatures, version 1, rsa-sha256).

Pure: the caller supplies the signing function, so this module decides only what is signed.
Requests without a body sign `date (request-target) host`; with a body (the federation POST)
they also sign `content-length content-type x-content-sha256`, and `host` is left out as the
OCI SDKs do for the federation call.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
from collections.abc import Callable
from urllib.parse import urlsplit

Signer = Callable[[bytes], bytes]


def request_target(method: str, url: str) -> str:
    parts = urlsplit(url)
    path = parts.path or "/"
    return f"{method.lower()} {path}?{parts.query}" if parts.query else f"{method.lower()} {path}"


def signing_string(names: list[str], values: dict[str, str]) -> bytes:
    return "\n".join(f"{name}: {values[name]}" for name in names).encode()


def sign(
    method: str,
    url: str,
    key_id: str,
    signer: Signer,
    *,
    body: bytes | None = None,
    content_type: str = "application/json",
    now: float | None = None,
    sign_host: bool | None = None,
) -> dict[str, str]:
    """The headers to send: date, host or body headers, and Authorization."""
    values = {
        "date": email.utils.formatdate(now, usegmt=True),
        "(request-target)": request_target(method, url),
        "host": urlsplit(url).netloc,
    }
    names = ["date", "(request-target)"]
    if sign_host if sign_host is not None else body is None:
        names.append("host")
    if body is not None:
        values["content-length"] = str(len(body))
        values["content-type"] = content_type
        values["x-content-sha256"] = base64.b64encode(hashlib.sha256(body).digest()).decode()
        names += ["content-length", "content-type", "x-content-sha256"]
    signature = base64.b64encode(signer(signing_string(names, values))).decode()
    authorization = (
        f'Signature version="1",keyId="{key_id}",algorithm="rsa-sha256",'
        f'headers="{" ".join(names)}",signature="{signature}"'
    )
    headers = {name.title(): value for name, value in values.items() if name in names and name != "host"}
    headers["Authorization"] = authorization
    return headers
