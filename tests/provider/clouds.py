"""Loopback implementations of the cloud endpoints the OCIR, GCP and ACR backends call.

Each fake checks what the real service checks (headers, form fields, and for OCI the request
signatures, verified with `cryptography` against the public keys it knows) and answers in the
documented shape. `script` lets a test make the next answers to a path fail: a tuple
(status, headers, body), or a number of seconds to hang.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import json
import re
import threading
import time
import urllib.parse
from collections import Counter, defaultdict
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

Answer = tuple[int, dict[str, str], bytes]
TENANCY = "ocid1.tenancy.oc1..aaaatest"
AZURE_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AZURE_AUDIENCE = "https://containerregistry.azure.net"


def answer(status: int, body: Any, **headers: str) -> Answer:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return status, {"Content-Type": "application/json", **headers}, data


def fake_jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeCloud:
    def __init__(self) -> None:
        self.script: dict[str, list[Answer | float]] = defaultdict(list)
        self.calls: Counter[str] = Counter()
        self.errors: list[str] = []  # what a real service would have refused, for the test to assert
        self.issued: list[str] = []  # credentials minted, newest last
        self.lock = threading.Lock()

    def __call__(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        path = urllib.parse.urlsplit(target).path
        with self.lock:
            self.calls[path] += 1
            scripted = self.script[path].pop(0) if self.script[path] else None
        if isinstance(scripted, float | int):
            time.sleep(scripted)
            return answer(500, {})
        if scripted is not None:
            return scripted
        lowered = {k.lower(): v for k, v in headers.items()}
        return self.serve(method, target, lowered, body)

    def refuse(self, why: str, status: int = 401) -> Answer:
        self.errors.append(why)
        return answer(status, {"code": "NotAuthenticated", "message": why})

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        raise NotImplementedError


# -- OCI -----------------------------------------------------------------------------------


def _pem_body(pem: bytes) -> str:
    return "".join(ln for ln in pem.decode().splitlines() if ln and not ln.startswith("-----"))


def _name(*values: tuple[Any, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in values])


def _cert(subject: x509.Name, issuer: x509.Name, key: Any, signer: Any, ca: bool) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(signer, hashes.SHA256())
    )


def parse_signature(authorization: str) -> dict[str, str]:
    if not authorization.startswith("Signature "):
        return {}
    return dict(re.findall(r'(\w+)="([^"]*)"', authorization))


class FakeOci(FakeCloud):
    """Instance metadata v2, the auth service's /v1/x509, and an OCIR token endpoint."""

    def __init__(self, region_key: str = "iad") -> None:
        super().__init__()
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca_name = _name((NameOID.COMMON_NAME, "PKISVC Identity Intermediate r2"))
        leaf_name = _name(
            (NameOID.COMMON_NAME, "ocid1.instance.oc1.iad.test"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-certtype:instance"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, "opc-compartment:ocid1.compartment.oc1..test"),
            (NameOID.ORGANIZATIONAL_UNIT_NAME, f"opc-tenant:{TENANCY}"),
        )
        self.intermediate = _cert(ca_name, ca_name, ca_key, ca_key, ca=True)
        self.leaf = _cert(leaf_name, ca_name, self.leaf_key, ca_key, ca=False)
        self.region_key = region_key
        self.sessions: dict[str, Any] = {}  # security token -> the session public key it binds
        self.api_keys: dict[str, Any] = {}  # user principal keyId -> public key

    def pem(self, cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.PEM)

    def leaf_fingerprint(self) -> str:
        return self.leaf.fingerprint(hashes.SHA1()).hex(":").upper()

    def _verify(
        self, method: str, target: str, headers: dict[str, str], body: bytes, *, key: Any, needed: list[str]
    ) -> str | None:
        """Why the signature is wrong, or None."""
        params = parse_signature(headers.get("authorization", ""))
        names = params.get("headers", "").split()
        if params.get("version") != "1" or params.get("algorithm") != "rsa-sha256":
            return "not an OCI version 1 rsa-sha256 signature"
        if missing := [n for n in needed if n not in names]:
            return f"signature does not cover {missing}"
        when = email.utils.parsedate_to_datetime(headers.get("date", "Thu, 01 Jan 1970 00:00:00 GMT"))
        if abs(when.timestamp() - time.time()) > 300:
            return "date header is more than 5 minutes off"
        if (
            body
            and headers.get("x-content-sha256") != base64.b64encode(hashlib.sha256(body).digest()).decode()
        ):
            return "x-content-sha256 does not match the body"
        if body and headers.get("content-length") != str(len(body)):
            return "content-length does not match the body"
        values = {**headers, "(request-target)": f"{method.lower()} {target}"}
        text = "\n".join(f"{n}: {values.get(n, '')}" for n in names).encode()
        try:
            key.verify(base64.b64decode(params["signature"]), text, padding.PKCS1v15(), hashes.SHA256())
        except Exception:
            return "signature does not verify"
        return None

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        path = urllib.parse.urlsplit(target).path
        if path.startswith("/opc/v2/"):
            if headers.get("authorization") != "Bearer Oracle":
                return answer(401, {"code": "NotAuthenticated", "message": "IMDS v2 needs Bearer Oracle"})
            leaf_pem = self.leaf_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
            files = {
                "/opc/v2/identity/cert.pem": self.pem(self.leaf),
                "/opc/v2/identity/key.pem": leaf_pem,
                "/opc/v2/identity/intermediate.pem": self.pem(self.intermediate),
                "/opc/v2/instance/region": self.region_key.encode(),
                "/opc/v2/instance/regionInfo": json.dumps(
                    {
                        "realmKey": "oc1",
                        "realmDomainComponent": "oraclecloud.com",
                        "regionKey": self.region_key.upper(),
                        "regionIdentifier": "us-ashburn-1",
                    }
                ).encode(),
            }
            return (200, {}, files[path]) if path in files else answer(404, {"code": "NotFound"})
        if path == "/v1/x509" and method == "POST":
            return self._federate(method, target, headers, body)
        if path == "/20180419/docker/token" and method == "GET":
            return self._registry_token(method, target, headers)
        return answer(404, {"code": "NotFound", "message": path})

    def _federate(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        key_id = parse_signature(headers.get("authorization", "")).get("keyId")
        if key_id != f"{TENANCY}/fed-x509/{self.leaf_fingerprint()}":
            return self.refuse(f"unexpected federation keyId {key_id}")
        needed = ["date", "(request-target)", "content-length", "content-type", "x-content-sha256"]
        if why := self._verify(method, target, headers, body, key=self.leaf_key.public_key(), needed=needed):
            return self.refuse(f"federation: {why}")
        request = json.loads(body)
        if request.get("certificate") != _pem_body(self.pem(self.leaf)):
            return self.refuse("federation: certificate is not the instance's leaf")
        if request.get("intermediateCertificates") != [_pem_body(self.pem(self.intermediate))]:
            return self.refuse("federation: intermediateCertificates is not the intermediate")
        session = serialization.load_der_public_key(base64.b64decode(request["publicKey"]))
        if getattr(session, "key_size", 0) < 2048:
            return self.refuse("federation: session key is not RSA of at least 2048 bits")
        token = fake_jwt({"sub": "ocid1.instance.oc1.iad.test", "exp": int(time.time()) + 1200})
        with self.lock:
            self.sessions[token] = session
        return answer(200, {"token": token})

    def _registry_token(self, method: str, target: str, headers: dict[str, str]) -> Answer:
        key_id = parse_signature(headers.get("authorization", "")).get("keyId", "")
        key = self.sessions.get(key_id[3:]) if key_id.startswith("ST$") else self.api_keys.get(key_id)
        if key is None:
            return self.refuse(f"unknown keyId {key_id[:40]}")
        if why := self._verify(
            method, target, headers, b"", key=key, needed=["date", "(request-target)", "host"]
        ):
            return self.refuse(f"token: {why}")
        token = f"ocir-token-{len(self.issued) + 1}"
        self.issued.append(token)
        return answer(200, {"token": token, "access_token": token, "scope": "", "expires_in": 3600})


# -- GCP -----------------------------------------------------------------------------------


class FakeGce(FakeCloud):
    """The GCE metadata server's service-account scopes and token."""

    BASE = "/computeMetadata/v1/instance/service-accounts/default/"

    def __init__(self, scopes: list[str] | None = None) -> None:
        super().__init__()
        self.scopes = scopes or [
            "https://www.googleapis.com/auth/devstorage.read_only",
            "https://www.googleapis.com/auth/logging.write",
        ]

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("metadata-flavor") != "Google":
            return self.refuse("missing Metadata-Flavor: Google", 403)
        if "x-forwarded-for" in headers:
            return self.refuse("proxied request", 403)
        path = urllib.parse.urlsplit(target).path
        if path == self.BASE + "scopes":
            return answer(200, self.scopes)
        if path == self.BASE + "token":
            token = f"ya29.test-{len(self.issued) + 1}"
            self.issued.append(token)
            return answer(200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"})
        return answer(404, b"Not Found")


# -- Azure ---------------------------------------------------------------------------------


class FakeAzure(FakeCloud):
    """Azure IMDS managed-identity tokens and an ACR /oauth2/exchange."""

    def __init__(self, client_ids: tuple[str, ...] = ("",)) -> None:
        super().__init__()
        self.client_ids = client_ids  # "" = the VM has a system-assigned identity
        self.aad_tokens: set[str] = set()
        self.refresh_lifetime = 3 * 3600

    def serve(self, method: str, target: str, headers: dict[str, str], body: bytes) -> Answer:
        parts = urllib.parse.urlsplit(target)
        if parts.path == "/metadata/identity/oauth2/token":
            return self._imds(headers, urllib.parse.parse_qs(parts.query))
        if parts.path == "/oauth2/exchange" and method == "POST":
            return self._exchange(headers, body)
        return answer(404, {"error": "not_found"})

    def _imds(self, headers: dict[str, str], query: dict[str, list[str]]) -> Answer:
        if headers.get("metadata") != "true":
            return answer(400, {"error": "invalid_request", "error_description": "Required metadata header"})
        if query.get("resource") != [AZURE_AUDIENCE] or query.get("api-version") != ["2018-02-01"]:
            return answer(400, {"error": "invalid_resource", "error_description": "bad resource"})
        client = query.get("client_id", [""])[0]
        if client not in self.client_ids:
            return answer(400, {"error": "invalid_request", "error_description": "Identity not found"})
        now = int(time.time())
        token = fake_jwt(
            {"aud": AZURE_AUDIENCE, "tid": AZURE_TENANT, "appid": client or "system", "iat": now}
        )
        with self.lock:
            self.aad_tokens.add(token)
        return answer(
            200,
            {
                "access_token": token,
                "expires_in": "86399",
                "expires_on": str(now + 86399),
                "not_before": str(now),
                "resource": AZURE_AUDIENCE,
                "token_type": "Bearer",
            },
        )

    def _exchange(self, headers: dict[str, str], body: bytes) -> Answer:
        if headers.get("content-type") != "application/x-www-form-urlencoded":
            return self.refuse("exchange: not a form post", 400)
        form = {k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()}
        if form.get("grant_type") != "access_token":
            return self.refuse(f"exchange: grant_type {form.get('grant_type')}", 400)
        if form.get("access_token") not in self.aad_tokens or form.get("tenant") != AZURE_TENANT:
            return answer(401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid token"}]})
        if not form.get("service", "").endswith(".azurecr.io"):
            return self.refuse(f"exchange: service {form.get('service')}", 400)
        token = fake_jwt({"exp": int(time.time()) + self.refresh_lifetime, "n": len(self.issued) + 1})
        self.issued.append(token)
        return answer(200, {"refresh_token": token})
