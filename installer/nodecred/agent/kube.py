"""The agent's only door to the Kubernetes API: a few calls over the official client.

Every failure becomes KubeError with the HTTP status (0 when no answer came), so the loop can
tell a conflict (409: somebody else won) from a refusal (403: RBAC) from an outage.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from nodecred.errors import ConfigError, NodecredError

MERGE_PATCH = "application/merge-patch+json"
TIMEOUT = 10.0  # seconds per request: an API that hangs must not hang the agent


class KubeError(NodecredError):
    def __init__(self, what: str, status: int, reason: str) -> None:
        super().__init__(f"{what}: {status or 'no answer'} {reason}".strip())
        self.status = status


@dataclass
class NodeView:
    name: str
    annotations: dict[str, str]
    labels: dict[str, str]


def api_client(kubeconfig: str | None = None, host: str | None = None) -> client.ApiClient:
    """In the pod: the service account. Else a kubeconfig (as kubectl finds it), or HOST directly.

    urllib3's own retries are off: the agent's loop retries with backoff, and a request that
    times out must fail in one timeout, not three."""
    if host:
        configuration = client.Configuration()
        configuration.host = host
    else:
        try:
            config.load_incluster_config()
        except config.ConfigException:
            try:
                config.load_kube_config(config_file=kubeconfig)
            except (config.ConfigException, OSError) as err:
                where = "run in the pod, or give --kubeconfig or KUBECONFIG"
                raise ConfigError(f"no Kubernetes API to talk to ({err}): {where}") from None
        configuration = client.Configuration.get_default_copy()
    configuration.retries = 0
    return client.ApiClient(configuration)


class Kube:
    def __init__(self, api: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        self.writes = 0  # API writes made, for tests and metrics
        self.requests = 0
        self.timeout = TIMEOUT

    def _call(self, what: str, write: bool, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        self.writes += write
        try:
            return func(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as err:
            raise KubeError(what, int(err.status or 0), str(err.reason or "")) from None
        except Exception as err:  # urllib3's connection errors and timeouts have no common base
            raise KubeError(what, 0, type(err).__name__) from None

    def node(self, name: str) -> NodeView:
        raw = self._call(f"get node {name}", False, self.core.read_node, name)
        return NodeView(name, dict(raw.metadata.annotations or {}), dict(raw.metadata.labels or {}))

    def patch_node(self, name: str, patch: dict[str, Any]) -> None:
        self._call(f"patch node {name}", True, self.core.patch_node, name, patch, _content_type=MERGE_PATCH)

    def node_count(self) -> int:
        return len(self._call("list nodes", False, self.core.list_node).items)

    def list_nodes(self, selector: str = "") -> list[NodeView]:
        items = self._call("list nodes", False, self.core.list_node, label_selector=selector or None).items
        return [
            NodeView(n.metadata.name, dict(n.metadata.annotations or {}), dict(n.metadata.labels or {}))
            for n in items
        ]

    def create_event(self, event: dict[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        self._call("create event", True, self.core.create_namespaced_event, namespace, event)

    def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            raw = self._call(
                f"get configmap {name}", False, self.core.read_namespaced_config_map, name, namespace
            )
        except KubeError as err:
            if err.status == 404:
                return None
            raise
        return dict(raw.data or {})

    def set_configmap_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Merge DATA into the ConfigMap, creating it when it is missing."""
        try:
            self._call(
                f"patch configmap {name}",
                True,
                self.core.patch_namespaced_config_map,
                name,
                namespace,
                {"data": data},
                _content_type=MERGE_PATCH,
            )
        except KubeError as err:
            if err.status != 404:
                raise
            body = {"metadata": {"name": name, "namespace": namespace}, "data": data}
            self._call(
                f"create configmap {name}", True, self.core.create_namespaced_config_map, namespace, body
            )

    # -- Leases ------------------------------------------------------------------------------

    def lease(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            raw = self._call(
                f"get lease {name}", False, self.coordination.read_namespaced_lease, name, namespace
            )
        except KubeError as err:
            if err.status == 404:
                return None
            raise
        return dict(self.coordination.api_client.sanitize_for_serialization(raw))

    def leases(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every Lease in NAMESPACE by name: one request however many slots there are."""
        raw = self._call("list leases", False, self.coordination.list_namespaced_lease, namespace)
        items = self.coordination.api_client.sanitize_for_serialization(raw).get("items") or []
        return {item["metadata"]["name"]: item for item in items}

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        raw = self._call("create lease", True, self.coordination.create_namespaced_lease, namespace, body)
        return dict(self.coordination.api_client.sanitize_for_serialization(raw))

    def update_lease(self, namespace: str, name: str, resource_version: str, spec: dict[str, Any]) -> str:
        """A merge patch of SPEC that carries RESOURCE_VERSION: the API server answers 409 when the
        Lease changed since it was read (a patch with metadata.resourceVersion is a precondition).
        Returns the Lease's new resourceVersion."""
        patch = {"metadata": {"resourceVersion": resource_version}, "spec": spec}
        raw = self._call(
            f"update lease {name}",
            True,
            self.coordination.patch_namespaced_lease,
            name,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
        )
        return str(raw.metadata.resource_version or "")
