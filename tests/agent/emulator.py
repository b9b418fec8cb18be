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
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import kmock
from kmock._internal.k8s import KubernetesObjectConflictError  # not exported by kmock

NODES = kmock.resource("", "v1", "nodes")
LEASES = kmock.resource("coordination.k8s.io", "v1", "leases")
CONFIGMAPS = kmock.resource("", "v1", "configmaps")
EVENTS = kmock.resource("", "v1", "events")


class Emulator(kmock.KubernetesEmulator):  # type: ignore[misc]
    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._versions = itertools.count(1)
        self._cas = asyncio.Lock()
        self.writes: list[tuple[str, str, str | None]] = []  # (method, resource plural, name)
        self.fail_next: list[int] = []  # statuses to answer the next requests with (403, 500, ...)
        self.delay = 0.0

    async def _handle(self, request: Any) -> Any:
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
            response = await super()._handle(request)
            if key in self.objects and not self.objects[key].deleted:
                self.objects[key].patch({"metadata": {"resourceVersion": str(next(self._versions))}})
                self.writes.append((request.method, request.resource.plural, name))
            return response


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
        body = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}}}
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
            for resource in (NODES, LEASES, CONFIGMAPS, EVENTS):
                emulator.resources[resource] = {}
            box["cluster"] = Cluster(emulator, str(server.url), asyncio.get_running_loop())
            box["stop"] = asyncio.Event()
            ready.set()
            await box["stop"].wait()

    thread = threading.Thread(target=lambda: asyncio.run(main()), name="kmock", daemon=True)
    thread.start()
    assert ready.wait(20), "the emulator did not start"
    cluster: Cluster = box["cluster"]
    try:
        yield cluster
    finally:
        cluster.loop.call_soon_threadsafe(box["stop"].set)
        thread.join(10)
