"""Google Artifact Registry and Container Registry: the node service account's access token.

Two calls to the GCE metadata server (`Metadata-Flavor: Google`, never through a proxy): the
account's scopes, because a token without a storage or cloud-platform scope is issued anyway
and only fails later at the registry, and the token itself. By hand rather than google-auth:
two GETs do not earn its import time and size in the frozen binary.
Docker username `oauth2accesstoken`.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from nodecred.provider.token import BackendError, Deadline, Token

if TYPE_CHECKING:
    from nodecred.provider.httpcall import Reply

USERNAME = "oauth2accesstoken"
METADATA_DEFAULT = "http://169.254.169.254"  # metadata.google.internal, without a DNS lookup
ACCOUNT_PATH = "/computeMetadata/v1/instance/service-accounts/{account}/"
PULL_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/devstorage.",  # read_only, read_write or full_control
)


def has_pull_scope(scopes: list[str]) -> bool:
    return any(s == PULL_SCOPES[0] or s.startswith(PULL_SCOPES[1]) for s in scopes)


class GcpBackend:
    cacheable = True

    def __init__(self, options: dict[str, Any], env: dict[str, str]) -> None:
        # GCE_METADATA_HOST is the variable Google's own libraries honour (host[:port]).
        host = env.get("GCE_METADATA_HOST")
        default = f"http://{host}" if host else METADATA_DEFAULT
        self.metadata = str(options.get("metadataEndpoint") or default).rstrip("/")
        self.account = str(options.get("serviceAccount") or "default")

    def cache_key(self, host: str) -> str:
        return f"gcp/{host}/{self.account}"

    def _get(self, leaf: str, deadline: Deadline) -> Reply:
        # Imported here, not above: a cache hit must not pay for urllib's HTTP stack.
        from nodecred.provider import httpcall

        path = ACCOUNT_PATH.format(account=self.account) + leaf
        reply = httpcall.call(
            "GET",
            self.metadata + path,
            what=f"the GCE metadata server ({leaf.partition('?')[0]})",
            deadline=deadline,
            headers={"Metadata-Flavor": "Google"},
            proxy=False,
        )
        fix = (
            f"the node has no service account {self.account!r}: attach one with "
            "roles/artifactregistry.reader (or storage.objectViewer for gcr.io)"
        )
        reply.ok(fix, statuses=(404,))
        return reply

    def fetch(self, host: str, deadline: Deadline) -> Token:
        import json

        try:
            scopes = json.loads(self._get("scopes?alt=json", deadline).body)
        except ValueError:
            scopes = None
        if not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes):
            raise BackendError("the GCE metadata server answered the scopes with bad JSON")
        if not has_pull_scope(scopes):
            raise BackendError(
                f"the node's service account lacks a pull scope (has {len(scopes)}): give the node "
                "pool the scope https://www.googleapis.com/auth/devstorage.read_only or cloud-platform"
            )
        reply = self._get("token", deadline)
        token = reply.field("access_token")
        expires_in = reply.json().get("expires_in")
        if not isinstance(expires_in, int | float) or isinstance(expires_in, bool) or expires_in <= 0:
            raise BackendError("the GCE metadata server answered the token without a positive expires_in")
        return Token(USERNAME, token, time.time() + float(expires_in))


def build(options: dict[str, Any], env: dict[str, str]) -> GcpBackend:
    return GcpBackend(options, env)
