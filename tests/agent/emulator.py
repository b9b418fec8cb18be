"""kmock's KubernetesEmulator on 127.0.0.1 in a background thread, for the official client.

Added here, because the emulator lacks them and the agent relies on them (as the real API
server behaves): every create and update gets a new metadata.resourceVersion, and an update
that carries a stale one is refused with 409 Conflict (optimistic concurrency). Lease expiry
needs nothing from the server: it is the clients' reading of renewTime, as with a real one.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kmock
from kmock._internal.k8s import KubernetesObjectConflictError  # not exported by kmock

NODES = kmock.resource("", "v1", "nodes")
LEASES = kmock.resource("coordination.k8s.io", "v1", "leases")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
EVENTS = kmock.resource("", "v1", "events")


# Discovery as a real API server gives it: kubectl (the demo's `kubectl get node -o yaml`) needs
# kinds, verbs and scope, which kmock leaves empty unless told.
_VERBS = ["create", "delete", "get", "list", "patch", "update", "watch"]
DISCOVERY = {
    NODES: {"kind": "Node", "singular": "node", "namespaced": False, "verbs": _VERBS, "shortnames": ["no"]},
    LEASES: {"kind": "Lease", "singular": "lease", "namespaced": True, "verbs": _VERBS},
    CONFIGMAPS: {
        "kind": "ConfigMap",
        "singular": "configmap",
        "namespaced": True,
        "verbs": _VERBS,
        "shortnames": ["cm"],
    },
    EVENTS: {"kind": "Event", "singular": "event", "namespaced": True, "verbs": _VERBS, "shortnames": ["ev"]},
}


class Emulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self._cas = asyncio.Lock()
        self.writes: list[tuple[str, str, str | None]] = []  # (method, resource plural, name)
        self.fail_next: list[int] = []  # statuses to answer the next requests with (403, 500, ...)
        self.delay = 0.0

    async def _handle(self, request: Any) -> Any:
        # kmock routes a request by asking each of its 14 reactions whether the request is in its
        # view of every request received so far; a reaction that does not serve it walks that whole
        # history, so every request cost a walk of the history per reaction (the fleet's emulator
        # spent three quarters of its CPU there). The history here holds only the requests being
        # served, not yet streaming: nothing in these tests reads it back.
        try:
            return await self._route(request)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        history = self._requests
        for index in range(len(history) - 1, -1, -1):
            if history[index] is request:
                del history[index]
                return

    async def _route(self, request: Any) -> Any:
        if self.fail_next:
            status = self.fail_next.pop(0)
            from aiohttp import web

            return web.json_response({"kind": "Status", "code": status, "message": "injected"}, status=status)
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.resource is None or request.action not in (kmock.action.CREATE, kmock.action.UPDATE):
            return await super()._handle(request)
        async with self._cas:  # check, write and bump as one step: concurrent writers serialise here
            data = request.data if isinstance(request.data, dict) else {}
            name = request.name or data.get("metadata", {}).get("name")
            namespace = request.namespace or data.get("metadata", {}).get("namespace")
            key = (request.resource, namespace, name)
            sent = data.get("metadata", {}).get("resourceVersion")
            if request.action == kmock.action.UPDATE and sent is not None and key in self.objects:
                stored = self.objects[key].get("metadata", {}).get("resourceVersion")
                if stored is not None and str(sent) != str(stored):
                    raise KubernetesObjectConflictError()
            # The new resourceVersion goes in with the write, so the answer carries it (as a real
            # API server's does) and a client can make its next write conditional on it.
            version = str(next(self._versions))
            if isinstance(request.data, dict):
                request.data.setdefault("metadata", {})["resourceVersion"] = version
            response = await super()._handle(request)
            if key in self.objects and not self.objects[key].deleted:
                self.writes.append((request.method, request.resource.plural, name))
            return response

    async def _serve_watch(self, request: Any) -> Any:
        """kmock snapshots the objects, sends them, and only then subscribes to changes: a change in
        between is never sent (a handed-over restart slot would be missed). A real API server's watch
        has no such gap; subscribing before the snapshot, under the lock every write holds, closes it."""
        yield b""
        self._forget(request)  # routed: a watch lasts, and must not lengthen every routing walk
        bus = self._buses[request.resource]
        async with self._lock:
            mark = await bus.mark()
            objs = [o for o in self._KubernetesEmulator__get_objs(request, strict=False) if not o.deleted]
            events = [{"type": "ADDED", "object": o.raw} for o in objs]
        for event in events:
            yield event
        async for event in bus.stream(since=mark):
            if event is None:  # the emulator is stopping (end_watches)
                return
            metadata = event.get("object", {}).get("metadata", {})
            if self._KubernetesEmulator__check(
                request, request.resource, metadata.get("namespace"), metadata.get("name"), strict=False
            ):
                yield event

    async def end_watches(self) -> None:
        """End every open watch so the server stops at once (a watch otherwise never ends)."""
        for bus in list(self._buses.values()):
            await bus.put(None)

    async def _serve_version(self, request: Any) -> Any:
        """kmock names the core group "/v1"; a real API server (and kubectl) says "v1"."""
        payload = await super()._serve_version(request)
        payload["groupVersion"] = payload["groupVersion"].lstrip("/")
        return payload

    async def _serve_list(self, request: Any) -> Any:
        """List, then apply ?labelSelector= (equality-based: k=v, k==v, k!=v, k), which kmock ignores."""
        payload = await super()._serve_list(request)
        kind = DISCOVERY.get(request.resource, {}).get("kind")
        if kind:  # kubectl decodes a list by its kind
            group = request.resource.group
            payload["apiVersion"] = (
                f"{group}/{request.resource.version}" if group else request.resource.version
            )
            payload["kind"] = f"{kind}List"
        params = request.params or {}
        selector = params.get("labelSelector", "")
        if selector:
            payload["items"] = [i for i in payload["items"] if _selected(i, selector)]
        limit = int(params.get("limit") or 0)  # one page in key order, as the API server pages
        if limit and len(payload["items"]) > limit:
            payload["items"] = sorted(payload["items"], key=lambda i: i["metadata"]["name"])[:limit]
            payload.setdefault("metadata", {})["continue"] = "more"
        return payload


def _selected(item: dict[str, Any], selector: str) -> bool:
    labels = item.get("metadata", {}).get("labels") or {}
    for term in selector.split(","):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.strip() and term.strip() not in labels:
            return False
    return True


class Cluster:
    """The emulator's URL, and thread-safe helpers to seed and read its objects."""

    def __init__(self, emulator: Emulator, url: str, loop: asyncio.AbstractEventLoop) -> None:
        self.emulator = emulator
        self.url = url.rstrip("/")
        self.loop = loop

    def _in_loop(self, func: Any) -> Any:
        async def call() -> Any:
            return func()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        metadata = {"name": name, "labels": labels or {}, "creationTimestamp": stamp}
        body = {"apiVersion": "v1", "kind": "Node", "metadata": metadata}
        self._in_loop(lambda: self.emulator.objects.__setitem__((NODES, None, name), body))

    def node(self, name: str) -> dict[str, Any]:
        return dict(self._in_loop(lambda: self.emulator.objects[NODES, None, name].raw))

    def set_mode(self, namespace: str, name: str, mode: str) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": namespace},
            "data": {"mode": mode},
        }
        self._in_loop(lambda: self.emulator.objects.__setitem__((CONFIGMAPS, namespace, name), body))

    def events(self) -> list[dict[str, Any]]:
        def collect() -> list[dict[str, Any]]:
            return [o.raw for (r, _, _), o in self.emulator.objects.items() if r == EVENTS and not o.deleted]

        return list(self._in_loop(collect))

    def leases(self) -> list[dict[str, Any]]:
        def collect() -> list[dict[str, Any]]:
            return [o.raw for (r, _, _), o in self.emulator.objects.items() if r == LEASES and not o.deleted]

        return list(self._in_loop(collect))


@contextmanager
def running() -> Iterator[Cluster]:
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        async with Emulator() as emulator, kmock.Server(emulator) as server:
            for resource, info in DISCOVERY.items():
                emulator.resources[resource] = info
            box["cluster"] = Cluster(emulator, str(server.url), asyncio.get_running_loop())
            box["stop"] = asyncio.Event()
            ready.set()
            await box["stop"].wait()
            await emulator.end_watches()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="kmock", daemon=True)
    thread.start()
    assert ready.wait(20), "the emulator did not start"
    cluster: Cluster = box["cluster"]
    try:
        yield cluster
    finally:
        cluster.loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)


class RemoteCluster:
    """The same emulator in a process of its own (for fleets: 200 agent threads would otherwise
    share one GIL with the server), seeded and read through the API."""

    def __init__(self, url: str) -> None:
        from kubernetes import client

        self.url = url
        configuration = client.Configuration()
        configuration.host = url
        self.core = client.CoreV1Api(client.ApiClient(configuration))

    def add_node(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.core.create_node(
            {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}
        )

    def node(self, name: str) -> dict[str, Any]:
        raw = self.core.read_node(name)
        return dict(self.core.api_client.sanitize_for_serialization(raw))


@contextmanager
def running_process() -> Iterator[RemoteCluster]:
    import subprocess
    import sys

    server = subprocess.Popen(
        [sys.executable, "-m", "tests.agent.emulator"], stdout=subprocess.PIPE, text=True, cwd=_ROOT
    )
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        assert url.startswith("http://"), url
        yield RemoteCluster(url)
    finally:
        server.terminate()
        server.wait(10)


_ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[2])


if __name__ == "__main__":
    import signal
    import sys

    with running() as cluster:
        print(cluster.url, flush=True)
        signal.sigwait({signal.SIGTERM, signal.SIGINT})
        sys.exit(0)
