"""The agent's only door to the Kubernetes API: a few calls over the official client.

Every failure becomes KubeError with the HTTP status (0 when no answer came), so the loop can
tell a conflict (409: somebody else won) from a refusal (403: RBAC) from an outage.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

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


class LeaseWatch:
    """One watch on a namespace's Leases: (event type, Lease as JSON) until the read times out, the
    stream breaks, or close() is called from another thread (SIGTERM)."""

    def __init__(self, response: Any, forget: Any = None) -> None:
        self.response = response
        self.forget = forget  # called once the watch is over

    def events(self) -> Iterator[tuple[str, dict[str, Any]]]:
        try:
            for line in iter_resp_lines(self.response):
                if line:
                    event = json.loads(line)
                    yield str(event.get("type", "")), dict(event.get("object") or {})
        except (urllib3.exceptions.HTTPError, OSError, ValueError, AttributeError):
            return  # a read timeout, a broken stream, or closed by close(): the caller lists again
        finally:
            self.close()
            if self.forget:
                self.forget(self)

    def close(self) -> None:
        shutdown = getattr(self.response, "shutdown", None)  # urllib3 >= 2.3: unblocks a read elsewhere
        with contextlib.suppress(Exception):
            if shutdown:
                shutdown()
            self.response.release_conn()


class Kube:
    def __init__(self, api: client.ApiClient, watch_api: client.ApiClient | None = None) -> None:
        self.core = client.CoreV1Api(api)
        self.coordination = client.CoordinationV1Api(api)
        # A watch holds its connection while it lasts; a caller that shares one bounded pool among
        # many agents (the fleet tests) gives watches a pool of their own.
        self.watch_coordination = client.CoordinationV1Api(watch_api or api)
        self.writes = 0  # API writes made, for tests and metrics
        self.requests = 0
        self.calls: Counter[str] = Counter()  # requests by client method, for the fleet figures
        self.timeout = TIMEOUT
        self._watches: set[LeaseWatch] = set()
        self._lock = threading.Lock()

    def _call(self, what: str, write: bool, func: Any, *args: Any, **kwargs: Any) -> Any:
        self.requests += 1
        self.writes += write
        self.calls[func.__name__] += 1
        timeout = kwargs.pop("timeout", self.timeout)
        try:
            return func(*args, _request_timeout=timeout, **kwargs)
        except ApiException as err:
            raise KubeError(what, int(err.status or 0), str(err.reason or "")) from None
        except Exception as err:  # urllib3's connection errors and timeouts have no common base
            raise KubeError(what, 0, type(err).__name__) from None

    def _json(self, what: str, write: bool, func: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """The answer's JSON as the API server sent it. The client's model objects are not built:
        the agent reads a few metadata fields, and a Node (which every patch answers with) carries
        tens of KB of status that the client would decode into objects on every call."""
        response = self._call(what, write, func, *args, _preload_content=False, **kwargs)
        try:
            body = json.loads(response.data or b"{}")
        except ValueError:
            raise KubeError(what, int(response.status or 0), "the answer is not JSON") from None
        except Exception as err:  # the body's read timed out or broke
            raise KubeError(what, 0, type(err).__name__) from None
        finally:
            response.release_conn()
        return body if isinstance(body, dict) else {}

    def _read_or_none(self, what: str, func: Any, *args: Any) -> dict[str, Any] | None:
        """A GET whose 404 is an answer (None), not an error."""
        try:
            return self._json(what, False, func, *args)
        except KubeError as err:
            if err.status == 404:
                return None
            raise

    def node(self, name: str) -> NodeView:
        return _node_view(self._json(f"get node {name}", False, self.core.read_node, name), name)

    def patch_node(self, name: str, patch: dict[str, Any]) -> None:
        self._json(f"patch node {name}", True, self.core.patch_node, name, patch, _content_type=MERGE_PATCH)

    def node_count(self) -> int:
        return len(self._json("list nodes", False, self.core.list_node).get("items") or [])

    def list_nodes(self, selector: str = "", limit: int | None = None) -> list[NodeView]:
        """The nodes SELECTOR matches (at most LIMIT of them: one page, the rest not fetched)."""
        listed = self._json(
            "list nodes", False, self.core.list_node, label_selector=selector or None, limit=limit
        )
        return [_node_view(item) for item in listed.get("items") or []]

    def create_event(self, event: dict[str, Any]) -> None:
        namespace = event["metadata"]["namespace"]
        self._json("create event", True, self.core.create_namespaced_event, namespace, event)

    def configmap_data(self, namespace: str, name: str) -> dict[str, str] | None:
        raw = self._read_or_none(
            f"get configmap {name}", self.core.read_namespaced_config_map, name, namespace
        )
        return None if raw is None else {str(k): str(v) for k, v in (raw.get("data") or {}).items()}

    def set_configmap_data(self, namespace: str, name: str, data: dict[str, str]) -> None:
        """Merge DATA into the ConfigMap, creating it when it is missing."""
        try:
            self._json(
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
            self._json(
                f"create configmap {name}", True, self.core.create_namespaced_config_map, namespace, body
            )

    # -- Leases ------------------------------------------------------------------------------

    def leases(self, namespace: str) -> dict[str, dict[str, Any]]:
        """Every Lease in NAMESPACE by name: one request however many slots there are."""
        listed = self._json("list leases", False, self.coordination.list_namespaced_lease, namespace)
        return {item["metadata"]["name"]: item for item in listed.get("items") or []}

    def watch_leases(self, namespace: str, idle_timeout: float) -> LeaseWatch:
        """Watch NAMESPACE's Leases from now: first an ADDED event per existing Lease (no
        resourceVersion given), then every change; the stream ends after IDLE_TIMEOUT without one."""
        response = self._call(
            "watch leases",
            False,
            self.watch_coordination.list_namespaced_lease,
            namespace,
            watch="true",  # as kubectl sends it; the client would send "True" (the emulator wants "true")
            _preload_content=False,
            timeout=(self.timeout, idle_timeout),
        )
        watch = LeaseWatch(response, self._forget)
        with self._lock:
            self._watches.add(watch)
        return watch

    def _forget(self, watch: LeaseWatch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def abort_watches(self) -> None:
        """End every open watch now (SIGTERM: a waiting agent must not wait for its read timeout)."""
        with self._lock:
            watches, self._watches = list(self._watches), set()
        for watch in watches:
            watch.close()

    def create_lease(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json("create lease", True, self.coordination.create_namespaced_lease, namespace, body)

    def update_lease(self, namespace: str, name: str, resource_version: str, spec: dict[str, Any]) -> str:
        """A merge patch of SPEC that carries RESOURCE_VERSION: the API server answers 409 when the
        Lease changed since it was read (a patch with metadata.resourceVersion is a precondition).
        Returns the Lease's new resourceVersion."""
        patch = {"metadata": {"resourceVersion": resource_version}, "spec": spec}
        raw = self._json(
            f"update lease {name}",
            True,
            self.coordination.patch_namespaced_lease,
            name,
            namespace,
            patch,
            _content_type=MERGE_PATCH,
        )
        return str((raw.get("metadata") or {}).get("resourceVersion") or "")


def _node_view(raw: dict[str, Any], name: str = "") -> NodeView:
    metadata = raw.get("metadata") or {}
    return NodeView(
        name or str(metadata.get("name") or ""),
        dict(metadata.get("annotations") or {}),
        dict(metadata.get("labels") or {}),
    )
