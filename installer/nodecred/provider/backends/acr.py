"""Azure ACR: the node's managed identity, exchanged for an ACR refresh token.

Azure IMDS (`Metadata: true`, never through a proxy) gives an Entra ID token for the ACR
audience, for the system-assigned identity or the user-assigned one named by clientId; then
`POST https://<registry>/oauth2/exchange` (grant_type=access_token) returns the ACR refresh
token. The kubelet gets the null-GUID username that tells ACR the password is a refresh token.
No client secret is ever read or returned. By hand rather than azure-identity: two calls.
"""

from __future__ import annotations

import time
import urllib.parse
from typing import Any

from nodecred.provider.token import ACR_NULL_USER, Deadline, Token, unverified_claims

METADATA_DEFAULT = "http://169.254.169.254"
AUDIENCE = "https://containerregistry.azure.net"
IMDS_API_VERSION = "2018-02-01"
ASSUMED_LIFETIME = 15 * 60.0


class AcrBackend:
    cacheable = True

    def __init__(self, options: dict[str, Any], env: dict[str, str]) -> None:
        self.client_id = str(options.get("clientId") or "")
        # AZURE_POD_IDENTITY_AUTHORITY_HOST is azure-identity's override of the IMDS address.
        default = env.get("AZURE_POD_IDENTITY_AUTHORITY_HOST") or METADATA_DEFAULT
        self.metadata = str(options.get("metadataEndpoint") or default).rstrip("/")
        self.registry = str(options.get("registryEndpoint") or "").rstrip("/")

    def cache_key(self, host: str) -> str:
        return f"acr/{host}/{self.client_id or 'system-assigned'}"

    def _identity_token(self, deadline: Deadline) -> str:
        # Imported here, not above: a cache hit must not pay for urllib's HTTP stack.
        from nodecred.provider import httpcall

        query = {"api-version": IMDS_API_VERSION, "resource": AUDIENCE}
        if self.client_id:
            query["client_id"] = self.client_id
        who = f"user-assigned identity {self.client_id}" if self.client_id else "system-assigned identity"
        what = "Azure IMDS (managed identity token)"
        reply = httpcall.call(
            "GET",
            f"{self.metadata}/metadata/identity/oauth2/token?{urllib.parse.urlencode(query)}",
            what=what,
            deadline=deadline,
            headers={"Metadata": "true"},
            proxy=False,
        )
        fix = f"the VM has no {who}: assign one to its scale set, or set acr.clientId to the one to use"
        reply.ok(fix, statuses=(400, 404))
        return reply.field("access_token")

    def fetch(self, host: str, deadline: Deadline) -> Token:
        from nodecred.provider import httpcall

        aad_token = self._identity_token(deadline)
        form = {"grant_type": "access_token", "service": host, "access_token": aad_token}
        tenant = unverified_claims(aad_token).get("tid")
        if isinstance(tenant, str) and tenant:
            form["tenant"] = tenant
        what = f"the ACR token exchange of {host}"
        reply = httpcall.call(
            "POST",
            (self.registry or f"https://{host}") + "/oauth2/exchange",
            what=what,
            deadline=deadline,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            body=urllib.parse.urlencode(form).encode(),
        )
        reply.ok("give the managed identity the AcrPull role on the registry")
        refresh = reply.field("refresh_token")
        expires = unverified_claims(refresh).get("exp")
        if not isinstance(expires, int | float) or isinstance(expires, bool):
            # ACR refresh tokens are JWTs with an exp; without one, assume a short life.
            expires = time.time() + ASSUMED_LIFETIME
        return Token(ACR_NULL_USER, refresh, float(expires))


def build(options: dict[str, Any], env: dict[str, str]) -> AcrBackend:
    return AcrBackend(options, env)
