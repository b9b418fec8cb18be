"""Oracle OCIR: a bearer token from `https://<registry>/20180419/docker/token`, signed as the node.

instance_principal (default), as the OCI SDKs do it: read the leaf certificate, its key and the
intermediate from the instance metadata service (v2), make a fresh RSA-2048 session key, trade
the certificate for a security token at the region's auth service (`/v1/x509`, signed with the
leaf key), then sign the token request with the session key (keyId `ST$<security token>`).
user_principal: sign the token request with an API key from an OCI config file.
Docker username `BEARER_TOKEN`; the token's life comes from `expires_in`.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from nodecred.provider.backends.static import read_secret_file
from nodecred.provider.token import BackendError, Deadline, Token

# urllib's HTTP stack and ctypes cost ~25 ms to import and a cache hit must not pay for them:
# every function that needs them imports them itself.
if TYPE_CHECKING:
    from nodecred.provider.openssl import RsaKey

USERNAME = "BEARER_TOKEN"
TOKEN_PATH = "/20180419/docker/token"  # noqa: S105 - a path, not a secret
METADATA_DEFAULT = "http://169.254.169.254/opc/v2"
METADATA_HEADERS = {"Authorization": "Bearer Oracle"}
_USER_HINT = "check the API key, its fingerprint and the user's group policy"
_TENANT_PREFIXES = ("opc-tenant:", "opc-identity:")
_POLICY_HINT = (
    "put the instance in a dynamic group and allow it to pull, e.g. "
    "'Allow dynamic-group <group> to read repos in tenancy'"
)


@dataclass(frozen=True)
class InstanceIdentity:
    cert: bytes
    key: bytes
    intermediates: list[bytes]
    tenancy: str
    auth_endpoint: str


def tenancy_of(cert: bytes) -> str:
    from nodecred.provider.openssl import subject_values

    for value in subject_values(cert, "the instance certificate"):
        for prefix in _TENANT_PREFIXES:
            if value.startswith(prefix):
                return value[len(prefix) :]
    raise BackendError("the instance certificate names no tenancy (no opc-tenant: subject attribute)")


def auth_endpoint(region_info: dict[str, Any]) -> str:
    """https://auth.<region-id>.<realm domain>, from the metadata service's regionInfo (any realm)."""
    region = region_info.get("regionIdentifier")
    domain = region_info.get("realmDomainComponent")
    if not isinstance(region, str) or not isinstance(domain, str) or not region or not domain:
        raise BackendError("instance metadata regionInfo lacks regionIdentifier or realmDomainComponent")
    return f"https://auth.{region}.{domain}"


class OcirBackend:
    cacheable = True

    def __init__(self, options: dict[str, Any], env: dict[str, str]) -> None:
        self.auth = str(options.get("auth") or "instance_principal")
        self.config_file = str(options.get("configFile") or "/root/.oci/config")
        self.profile = str(options.get("profile") or "DEFAULT")
        self.metadata = str(
            options.get("metadataEndpoint") or env.get("OCI_METADATA_BASE_URL") or METADATA_DEFAULT
        ).rstrip("/")
        self.federation = str(options.get("federationEndpoint") or "").rstrip("/")
        self.registry = str(options.get("registryEndpoint") or "").rstrip("/")

    def cache_key(self, host: str) -> str:
        who = self.auth if self.auth == "instance_principal" else f"{self.config_file}#{self.profile}"
        return f"ocir/{host}/{who}"

    # -- instance principal -------------------------------------------------------------

    def _metadata(self, path: str, deadline: Deadline) -> bytes:
        from nodecred.provider import httpcall

        reply = httpcall.call(
            "GET",
            self.metadata + path,
            what=f"the OCI instance metadata service ({path})",
            deadline=deadline,
            headers=METADATA_HEADERS,
            proxy=False,
        )
        reply.ok("is this an OCI instance with the metadata service v2 enabled?", statuses=(401, 403, 404))
        return reply.body

    def _identity(self, deadline: Deadline) -> InstanceIdentity:
        from nodecred.provider.openssl import pem_blocks

        # Read fresh on every miss: the leaf certificate rotates, and the tenancy with it.
        cert = self._metadata("/identity/cert.pem", deadline)
        key = self._metadata("/identity/key.pem", deadline)
        intermediates = pem_blocks(self._metadata("/identity/intermediate.pem", deadline))
        endpoint = self.federation
        if not endpoint:
            try:
                info = json.loads(self._metadata("/instance/regionInfo", deadline))
            except ValueError:
                info = None
            if not isinstance(info, dict):
                raise BackendError("the OCI instance metadata service answered regionInfo with bad JSON")
            endpoint = auth_endpoint(info)
        return InstanceIdentity(cert, key, intermediates, tenancy_of(cert), endpoint)

    def _security_token(self, identity: InstanceIdentity, session: RsaKey, deadline: Deadline) -> str:
        from nodecred.provider import httpcall, ocisign
        from nodecred.provider.openssl import RsaKey, pem_body, sha1_fingerprint

        body = json.dumps(
            {
                "certificate": pem_body(identity.cert),
                "publicKey": _spki_body(session.public_der()),
                "intermediateCertificates": [pem_body(c) for c in identity.intermediates],
            }
        ).encode()
        leaf = RsaKey.from_pem(identity.key, "the instance key from the metadata service")
        url = identity.auth_endpoint + "/v1/x509"
        key_id = f"{identity.tenancy}/fed-x509/{sha1_fingerprint(identity.cert)}"
        headers = ocisign.sign("POST", url, key_id, leaf.sign_sha256, body=body)
        what = "the OCI auth service (federation)"
        reply = httpcall.call("POST", url, what=what, deadline=deadline, headers=headers, body=body)
        reply.ok("check the node's clock and that the instance principal is enabled in its tenancy")
        return reply.field("token")

    # -- the registry token ---------------------------------------------------------------

    def _registry_token(self, host: str, key_id: str, key: RsaKey, deadline: Deadline) -> Token:
        from nodecred.provider import httpcall, ocisign

        url = (self.registry or f"https://{host}") + TOKEN_PATH
        headers = ocisign.sign("GET", url, key_id, key.sign_sha256)
        what = f"the OCIR token endpoint of {host}"
        reply = httpcall.call("GET", url, what=what, deadline=deadline, headers=headers)
        reply.ok(_POLICY_HINT if self.auth == "instance_principal" else _USER_HINT)
        token = reply.field("token")
        expires_in = reply.json().get("expires_in")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            raise BackendError(f"{what} answered without a positive expires_in")
        return Token(USERNAME, token, time.time() + float(expires_in))

    def _user_key(self) -> tuple[str, RsaKey]:
        import configparser

        from nodecred.provider.openssl import RsaKey

        parser = configparser.ConfigParser(interpolation=None)
        text = read_secret_file(self.config_file).decode("utf-8", "replace")
        try:
            parser.read_string(text, source=self.config_file)
        except configparser.Error as err:
            raise BackendError(f"{self.config_file}: not an OCI config file: {err.message}") from None
        if not parser.has_section(self.profile) and self.profile != "DEFAULT":
            raise BackendError(f"{self.config_file} has no [{self.profile}] profile; set ocir.profile")
        section = parser[self.profile]
        missing = [k for k in ("user", "fingerprint", "key_file", "tenancy") if not section.get(k)]
        if missing:
            raise BackendError(f"{self.config_file} [{self.profile}] lacks {', '.join(missing)}")
        key_file = os.path.expanduser(section["key_file"])
        passphrase = section.get("pass_phrase")
        key = RsaKey.from_pem(
            read_secret_file(key_file), f"key_file {key_file}", passphrase.encode() if passphrase else None
        )
        return f"{section['tenancy']}/{section['user']}/{section['fingerprint']}", key

    def fetch(self, host: str, deadline: Deadline) -> Token:
        from nodecred.provider.openssl import RsaKey

        if self.auth == "user_principal":
            key_id, key = self._user_key()
            return self._registry_token(host, key_id, key, deadline)
        identity = self._identity(deadline)
        session = RsaKey.generate(2048)
        security_token = self._security_token(identity, session, deadline)
        return self._registry_token(host, f"ST${security_token}", session, deadline)


def _spki_body(der: bytes) -> str:
    import base64

    return base64.b64encode(der).decode()


def build(options: dict[str, Any], env: dict[str, str]) -> OcirBackend:
    return OcirBackend(options, env)
