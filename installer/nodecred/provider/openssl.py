"""RSA keys, RSA-SHA256 signatures and X.509 subjects from the libcrypto Python already loaded.

Written by hand because OCI request signing needs RSA-2048 key generation, PKCS#1 v1.5
signatures and the instance certificate's subject, and the alternatives do not fit the
provider's budget (25 MB, 100 ms): the `cryptography` wheel alone is 14 MB, the oci SDK costs
0.4 s of imports, and pure-Python key generation took 0.7-5 s here. OpenSSL's libcrypto is in
the frozen bundle already (Python's ssl and hashlib link it), so these calls add no size.
Only OpenSSL 3 is supported: it is what the bundle carries.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
from typing import Any

from nodecred.provider.token import BackendError

_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, list[Any]]] = {
    "BIO_new_mem_buf": (_P, [ctypes.c_char_p, ctypes.c_int]),
    "BIO_free": (ctypes.c_int, [_P]),
    "PEM_read_bio_PrivateKey": (_P, [_P, _P, _P, ctypes.c_char_p]),
    "PEM_read_bio_X509": (_P, [_P, _P, _P, _P]),
    "X509_free": (None, [_P]),
    "X509_get_subject_name": (_P, [_P]),
    "X509_NAME_entry_count": (ctypes.c_int, [_P]),
    "X509_NAME_get_entry": (_P, [_P, ctypes.c_int]),
    "X509_NAME_ENTRY_get_data": (_P, [_P]),
    "ASN1_STRING_get0_data": (_P, [_P]),
    "ASN1_STRING_length": (ctypes.c_int, [_P]),
    "EVP_PKEY_CTX_new_from_name": (_P, [_P, ctypes.c_char_p, ctypes.c_char_p]),
    "EVP_PKEY_keygen_init": (ctypes.c_int, [_P]),
    "EVP_PKEY_CTX_set_rsa_keygen_bits": (ctypes.c_int, [_P, ctypes.c_int]),
    "EVP_PKEY_generate": (ctypes.c_int, [_P, ctypes.POINTER(_P)]),
    "EVP_PKEY_CTX_free": (None, [_P]),
    "EVP_PKEY_free": (None, [_P]),
    "EVP_PKEY_get_base_id": (ctypes.c_int, [_P]),
    "i2d_PUBKEY": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.POINTER(ctypes.c_ubyte))]),
    "EVP_MD_CTX_new": (_P, []),
    "EVP_MD_CTX_free": (None, [_P]),
    "EVP_get_digestbyname": (_P, [ctypes.c_char_p]),
    "EVP_DigestSignInit": (ctypes.c_int, [_P, _P, _P, _P, _P]),
    "EVP_DigestSign": (
        ctypes.c_int,
        [_P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t), ctypes.c_char_p, ctypes.c_size_t],
    ),
    "ERR_get_error": (ctypes.c_ulong, []),
    "ERR_error_string_n": (None, [ctypes.c_ulong, ctypes.c_char_p, ctypes.c_size_t]),
}
_EVP_PKEY_RSA = 6


@functools.cache
def _libcrypto() -> Any:
    """The libcrypto this interpreter's hashlib loaded (the bundled one when frozen)."""
    import _hashlib  # noqa: F401 - maps libcrypto into the process

    path = "libcrypto.so.3"
    try:
        with open("/proc/self/maps", encoding="ascii", errors="replace") as maps:
            path = next((ln.split()[-1] for ln in maps if "/libcrypto.so" in ln), path)
    except OSError:
        pass
    try:
        lib = ctypes.CDLL(path)
        for name, (restype, argtypes) in _SIGNATURES.items():
            function = getattr(lib, name)
            function.restype, function.argtypes = restype, argtypes
    except (OSError, AttributeError) as err:
        raise BackendError(f"OpenSSL 3 libcrypto is needed for OCI request signing: {err}") from None
    return lib


def _failure(what: str) -> BackendError:
    lib = _libcrypto()
    code = lib.ERR_get_error()
    buffer = ctypes.create_string_buffer(256)
    if code:
        lib.ERR_error_string_n(code, buffer, len(buffer))
    while lib.ERR_get_error():  # leave the thread's error queue empty for the next call
        pass
    return BackendError(f"{what}: {buffer.value.decode('ascii', 'replace') or 'OpenSSL error'}")


class _MemoryBio:
    def __init__(self, data: bytes) -> None:
        self._data = data  # the BIO reads this buffer in place: keep it alive
        self.handle = _libcrypto().BIO_new_mem_buf(data, len(data))
        if not self.handle:
            raise _failure("cannot allocate an OpenSSL buffer")

    def __enter__(self) -> Any:
        return self.handle

    def __exit__(self, *_: object) -> None:
        _libcrypto().BIO_free(self.handle)


class RsaKey:
    """An RSA private key held by OpenSSL; freed with the object."""

    def __init__(self, handle: int) -> None:
        self._handle = handle

    def __del__(self) -> None:
        if getattr(self, "_handle", 0):
            _libcrypto().EVP_PKEY_free(self._handle)
            self._handle = 0

    @classmethod
    def generate(cls, bits: int = 2048) -> RsaKey:
        lib = _libcrypto()
        ctx = lib.EVP_PKEY_CTX_new_from_name(None, b"RSA", None)
        if not ctx:
            raise _failure("cannot create an RSA key context")
        try:
            key = _P()
            if (
                lib.EVP_PKEY_keygen_init(ctx) <= 0
                or lib.EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, bits) <= 0
                or lib.EVP_PKEY_generate(ctx, ctypes.byref(key)) <= 0
            ):
                raise _failure("RSA key generation failed")
        finally:
            lib.EVP_PKEY_CTX_free(ctx)
        assert key.value is not None
        return cls(key.value)

    @classmethod
    def from_pem(cls, pem: bytes, what: str, passphrase: bytes | None = None) -> RsaKey:
        """PKCS#1 or PKCS#8 PEM; a passphrase for an encrypted key (never a prompt)."""
        lib = _libcrypto()
        with _MemoryBio(pem) as bio:
            # With no callback, OpenSSL uses the last argument as the passphrase; b"" fails fast.
            handle = lib.PEM_read_bio_PrivateKey(bio, None, None, passphrase or b"")
        if not handle:
            raise _failure(f"{what} is not a readable PEM private key (encrypted without a passphrase?)")
        key = cls(handle)
        if lib.EVP_PKEY_get_base_id(handle) != _EVP_PKEY_RSA:
            raise BackendError(f"{what} is not an RSA key; OCI signs requests with RSA keys only")
        return key

    def public_der(self) -> bytes:
        """SubjectPublicKeyInfo, DER."""
        lib = _libcrypto()
        size = lib.i2d_PUBKEY(self._handle, None)
        if size <= 0:
            raise _failure("cannot encode the public key")
        buffer = (ctypes.c_ubyte * size)()
        cursor = ctypes.cast(buffer, ctypes.POINTER(ctypes.c_ubyte))
        lib.i2d_PUBKEY(self._handle, ctypes.byref(cursor))
        return bytes(buffer)

    def sign_sha256(self, data: bytes) -> bytes:
        """RSASSA-PKCS1-v1_5 with SHA-256 (OpenSSL's default padding for RSA)."""
        lib = _libcrypto()
        ctx = lib.EVP_MD_CTX_new()
        if not ctx:
            raise _failure("cannot create a signing context")
        try:
            sha256 = lib.EVP_get_digestbyname(b"SHA256")
            if lib.EVP_DigestSignInit(ctx, None, sha256, None, self._handle) <= 0:
                raise _failure("cannot start an RSA-SHA256 signature")
            size = ctypes.c_size_t(0)
            if lib.EVP_DigestSign(ctx, None, ctypes.byref(size), data, len(data)) <= 0:
                raise _failure("cannot size the RSA-SHA256 signature")
            signature = ctypes.create_string_buffer(size.value)
            if lib.EVP_DigestSign(ctx, signature, ctypes.byref(size), data, len(data)) <= 0:
                raise _failure("RSA-SHA256 signing failed")
            return signature.raw[: size.value]
        finally:
            lib.EVP_MD_CTX_free(ctx)


def subject_values(pem: bytes, what: str) -> list[str]:
    """The values of every attribute in a PEM certificate's subject, in order."""
    lib = _libcrypto()
    with _MemoryBio(pem) as bio:
        cert = lib.PEM_read_bio_X509(bio, None, None, None)
    if not cert:
        raise _failure(f"{what} is not a PEM certificate")
    try:
        name = lib.X509_get_subject_name(cert)
        values = []
        for index in range(lib.X509_NAME_entry_count(name)):
            data = lib.X509_NAME_ENTRY_get_data(lib.X509_NAME_get_entry(name, index))
            raw = ctypes.string_at(lib.ASN1_STRING_get0_data(data), lib.ASN1_STRING_length(data))
            values.append(raw.decode("utf-8", "replace"))
        return values
    finally:
        lib.X509_free(cert)


def pem_blocks(text: bytes) -> list[bytes]:
    """Each PEM block of TEXT (a file of one or more certificates), armour included."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.startswith(b"-----BEGIN "):
            current = [line]
        elif current:
            current.append(line)
            if line.startswith(b"-----END "):
                blocks.append(b"\n".join(current) + b"\n")
                current = []
    return blocks


def pem_body(pem: bytes) -> str:
    """The base64 body of one PEM block: armour lines and newlines removed (OCI's wire form)."""
    return "".join(
        line.strip().decode("ascii")
        for line in pem.splitlines()
        if line.strip() and not line.startswith(b"-----")
    )


def sha1_fingerprint(pem: bytes) -> str:
    """SHA-1 of the certificate's DER as upper-case hex pairs joined by colons."""
    import base64

    # Not a security use: OCI names the certificate by this fingerprint in the key id.
    digest = hashlib.sha1(base64.b64decode(pem_body(pem)), usedforsecurity=False).hexdigest().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
