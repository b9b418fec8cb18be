"""Pure pieces of the OCIR, GCP and ACR backends, and the OpenSSL seam, checked against `cryptography`."""

from __future__ import annotations

import base64
import datetime
import email.utils
import hashlib
import json
import subprocess
import sys

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from nodecred.provider import ocisign
from nodecred.provider.backends.gcp import has_pull_scope
from nodecred.provider.backends.ocir import auth_endpoint, tenancy_of
from nodecred.provider.openssl import RsaKey, pem_blocks, pem_body, sha1_fingerprint
from nodecred.provider.token import BackendError, unverified_claims
from tests.provider.clouds import fake_jwt

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(fmt: serialization.PrivateFormat, password: bytes | None = None) -> bytes:
    encryption = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    return KEY.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def _verify(signature: bytes, data: bytes) -> None:
    KEY.public_key().verify(signature, data, padding.PKCS1v15(), hashes.SHA256())


@pytest.mark.parametrize(
    "fmt", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8]
)
def test_keys_in_both_pem_forms_sign_verifiably(fmt: serialization.PrivateFormat) -> None:
    _verify(RsaKey.from_pem(_pem(fmt), "key").sign_sha256(b"payload"), b"payload")


def test_encrypted_key_needs_its_passphrase() -> None:
    pem = _pem(serialization.PrivateFormat.PKCS8, b"secret-pass")
    _verify(RsaKey.from_pem(pem, "key", b"secret-pass").sign_sha256(b"x"), b"x")
    with pytest.raises(BackendError, match="not a readable PEM private key") as info:
        RsaKey.from_pem(pem, "key", b"wrong")
    assert "secret-pass" not in str(info.value)


def test_non_rsa_and_garbage_keys_are_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(BackendError, match="not an RSA key"):
        RsaKey.from_pem(p256, "key.pem")
    with pytest.raises(BackendError, match=r"key\.pem is not a readable PEM"):
        RsaKey.from_pem(b"-----BEGIN RSA PRIVATE KEY-----\nnope\n-----END RSA PRIVATE KEY-----\n", "key.pem")


def test_generated_session_key_is_rsa_2048_and_its_spki_verifies() -> None:
    key = RsaKey.generate(2048)
    public = serialization.load_der_public_key(key.public_der())
    assert isinstance(public, rsa.RSAPublicKey)
    assert public.key_size == 2048
    public.verify(key.sign_sha256(b"data"), b"data", padding.PKCS1v15(), hashes.SHA256())
    assert RsaKey.generate(2048).public_der() != key.public_der()


def _cert(*ous: str) -> bytes:
    name = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, "ocid1.instance.oc1.iad.x")]
        + [x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou) for ou in ous]
    )
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(KEY.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(hours=1))
        .sign(KEY, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def test_tenancy_comes_from_the_subject() -> None:
    assert (
        tenancy_of(_cert("opc-certtype:instance", "opc-tenant:ocid1.tenancy.oc1..t"))
        == "ocid1.tenancy.oc1..t"
    )
    assert tenancy_of(_cert("opc-identity:ocid1.tenancy.oc1..i")) == "ocid1.tenancy.oc1..i"
    with pytest.raises(BackendError, match="names no tenancy"):
        tenancy_of(_cert("opc-certtype:instance"))
    with pytest.raises(BackendError, match="not a PEM certificate"):
        tenancy_of(b"not a certificate")


def test_fingerprint_body_and_blocks() -> None:
    pem = _cert("opc-tenant:t")
    cert = x509.load_pem_x509_certificate(pem)
    assert sha1_fingerprint(pem) == cert.fingerprint(hashes.SHA1()).hex(":").upper()
    assert base64.b64decode(pem_body(pem)) == cert.public_bytes(serialization.Encoding.DER)
    assert pem_blocks(b"junk\n" + pem + pem) == [pem, pem]


def test_auth_endpoint_from_region_info_in_any_realm() -> None:
    info = {"realmDomainComponent": "oraclecloud.com", "regionIdentifier": "us-ashburn-1"}
    assert auth_endpoint(info) == "https://auth.us-ashburn-1.oraclecloud.com"
    gov = {"realmDomainComponent": "oraclegovcloud.uk", "regionIdentifier": "uk-gov-london-1"}
    assert auth_endpoint(gov) == "https://auth.uk-gov-london-1.oraclegovcloud.uk"
    with pytest.raises(BackendError, match="regionIdentifier"):
        auth_endpoint({"regionKey": "IAD"})


def _signing_string(headers: dict[str, str], method: str, target: str, names: list[str]) -> bytes:
    values = {k.lower(): v for k, v in headers.items()}
    values["(request-target)"] = f"{method} {target}"
    return "\n".join(f"{n}: {values[n]}" for n in names).encode()


def test_get_signature_covers_date_target_and_host() -> None:
    key = RsaKey.from_pem(_pem(serialization.PrivateFormat.PKCS8), "key")
    headers = ocisign.sign(
        "GET", "https://iad.ocir.io/20180419/docker/token?service=x", "ST$tok", key.sign_sha256
    )
    auth = headers.pop("Authorization")
    assert 'version="1"' in auth
    assert 'keyId="ST$tok"' in auth
    assert 'algorithm="rsa-sha256"' in auth
    assert 'headers="date (request-target) host"' in auth
    assert email.utils.parsedate_to_datetime(headers["Date"]).tzinfo is not None
    signature = base64.b64decode(auth.split('signature="')[1].rstrip('"'))
    headers["host"] = "iad.ocir.io"
    names = ["date", "(request-target)", "host"]
    _verify(signature, _signing_string(headers, "get", "/20180419/docker/token?service=x", names))


def test_post_signature_covers_the_body_and_not_the_host() -> None:
    key = RsaKey.from_pem(_pem(serialization.PrivateFormat.PKCS8), "key")
    body = b'{"certificate": "MII..."}'
    headers = ocisign.sign(
        "POST",
        "https://auth.us-ashburn-1.oraclecloud.com/v1/x509",
        "t/fed-x509/AB",
        key.sign_sha256,
        body=body,
    )
    auth = headers.pop("Authorization")
    names = ["date", "(request-target)", "content-length", "content-type", "x-content-sha256"]
    assert f'headers="{" ".join(names)}"' in auth
    assert headers["Content-Length"] == str(len(body))
    assert headers["X-Content-Sha256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    signature = base64.b64decode(auth.split('signature="')[1].rstrip('"'))
    _verify(signature, _signing_string(headers, "post", "/v1/x509", names))


@pytest.mark.parametrize(
    ("scopes", "ok"),
    [
        (["https://www.googleapis.com/auth/devstorage.read_only"], True),
        (["https://www.googleapis.com/auth/devstorage.full_control"], True),
        (["https://www.googleapis.com/auth/cloud-platform"], True),
        (["https://www.googleapis.com/auth/cloud-platform.read-only"], False),
        (["https://www.googleapis.com/auth/logging.write"], False),
        ([], False),
    ],
)
def test_gcp_pull_scopes(scopes: list[str], ok: bool) -> None:
    assert has_pull_scope(scopes) is ok


def test_unverified_claims() -> None:
    assert unverified_claims(fake_jwt({"exp": 1700000000, "tid": "t"})) == {"exp": 1700000000, "tid": "t"}
    assert unverified_claims("opaque-token") == {}
    assert unverified_claims("a.%%%.c") == {}
    assert unverified_claims("a." + base64.urlsafe_b64encode(b"[1]").decode() + ".c") == {}


def _modules_after(code: str) -> set[str]:
    program = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True)
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_an_unmatched_image_imports_no_backend_and_no_parser_it_does_not_need() -> None:
    """Lazy backends: an unmatched image must not pay for OCI, Google or Azure code (or YAML)."""
    loaded = _modules_after(
        """
import io, json, tempfile, os
from nodecred.provider.main import run
from nodecred.kubelet.codec import encode_request
d = tempfile.mkdtemp()
settings = os.path.join(d, "p.json")
with open(settings, "w") as f:
    json.dump({"apiVersion": "nodecred.io/v1alpha1", "kind": "ProviderSettings", "cacheDir": d,
               "registries": [{"match": ["*.ocir.io"], "ocir": {}}, {"match": ["gcr.io"], "gcp": {}},
                              {"match": ["*.azurecr.io"], "acr": {}}]}, f)
code = run(io.BytesIO(encode_request("docker.io/library/nginx")), io.BytesIO(), io.StringIO(),
           ["--settings", settings], {})
assert code == 0, code
"""
    )
    for module in ("ocir", "gcp", "acr", "ecr"):
        assert f"nodecred.provider.backends.{module}" not in loaded
    for module in ("nodecred.provider.openssl", "ctypes", "urllib.request", "botocore", "yaml"):
        assert module not in loaded, module


def test_cloud_backend_modules_defer_http_and_crypto_to_a_cache_miss() -> None:
    """main() builds the backend before asking the cache, so importing one must stay cheap."""
    loaded = _modules_after(
        "import nodecred.provider.backends.ocir, nodecred.provider.backends.gcp, "
        "nodecred.provider.backends.acr, nodecred.provider.backends.ecr"
    )
    for module in ("ctypes", "urllib.request", "http.client", "nodecred.provider.httpcall", "botocore"):
        assert module not in loaded, module
