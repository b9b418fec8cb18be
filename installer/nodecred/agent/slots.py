"""Restart slots: at most k kubelets restarting cluster-wide, one coordination.k8s.io/v1 Lease each.

A slot is the Lease `<release>-restart-<i>` for i < k. Taking one is a create (409: taken) or,
for a free or expired one, a replace carrying the resourceVersion we read (409: somebody was
faster). The holder renews it while the restart and its verification run and frees it after;
an agent that crashed (or a node that was deleted) stops renewing, and its slot is free once
leaseDurationSeconds have passed since its last renewal. The API server never expires a Lease
by itself; expiry is this reading of renewTime, the same convention client-go's leader election
uses.
"""

from __future__ import annotations

import contextlib
import datetime
import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from nodecred.agent.kube import Kube, KubeError


def micro_time(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse(value: Any) -> float:
    if not value:
        return 0.0
    if isinstance(value, datetime.datetime):
        return value.timestamp()
    return datetime.datetime.fromisoformat(str(value)).timestamp()


def _version(lease: dict[str, Any]) -> str:
    return str((lease.get("metadata") or {}).get("resourceVersion") or "")


class SlotLost(Exception):
    """Our Lease was taken over (we did not renew in time): stop before restarting anything."""


class RestartSlots:
    def __init__(
        self,
        kube: Kube,
        namespace: str,
        release: str,
        identity: str,
        duration: float,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.release = release
        self.identity = identity
        self.duration = duration
        self.clock = clock
        self.held: dict[str, str] = {}  # slot -> the resourceVersion of our last write to it

    def name(self, index: int) -> str:
        return f"{self.release}-restart-{index}"

    def _spec(self, acquire: float | None, transitions: int) -> dict[str, Any]:
        now = self.clock()
        return {
            "holderIdentity": self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "acquireTime": micro_time(acquire if acquire is not None else now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    def held_by_other(self, lease: dict[str, Any]) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        if not holder or holder == self.identity:
            return False
        renewed = _parse(spec.get("renewTime") or spec.get("acquireTime"))
        return self.clock() < renewed + float(spec.get("leaseDurationSeconds") or self.duration)

    def try_acquire(self, slots: int) -> str | None:
        """The name of a slot we now hold, or None when all SLOTS are held by live agents."""
        existing = self.kube.leases(self.namespace)
        order = list(range(slots))
        random.shuffle(order)  # waiting agents spread over the free slots instead of racing for slot 0
        for index in order:
            name = self.name(index)
            lease = existing.get(name)
            if lease is None:
                body = {"metadata": {"name": name, "namespace": self.namespace}, "spec": self._spec(None, 0)}
                try:
                    created = self.kube.create_lease(self.namespace, body)
                except KubeError as err:
                    if err.status == 409:
                        continue
                    raise
                self.held[name] = _version(created)
                return name
            if self.held_by_other(lease):
                continue
            spec = lease.get("spec") or {}
            ours = spec.get("holderIdentity") == self.identity
            transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
            acquired = _parse(spec.get("acquireTime")) if ours else None
            try:
                version = self.kube.update_lease(
                    self.namespace, name, _version(lease), self._spec(acquired, transitions)
                )
            except KubeError as err:
                if err.status in (404, 409):
                    continue
                raise
            self.held[name] = version
            return name
        return None

    def renew(self, name: str) -> None:
        """Push renewTime, conditional on our last write: 409 means somebody took the slot over."""
        try:
            self.held[name] = self.kube.update_lease(
                self.namespace, name, self.held.get(name, ""), {"renewTime": micro_time(self.clock())}
            )
        except KubeError as err:
            if err.status in (404, 409):
                self.held.pop(name, None)
                raise SlotLost(f"restart slot {name} was taken over") from None
            raise

    def release_slot(self, name: str) -> None:
        version = self.held.pop(name, "")
        if not version:
            return
        with contextlib.suppress(KubeError):  # a 409 means it is not ours any more; expiry frees it otherwise
            self.kube.update_lease(self.namespace, name, version, {"holderIdentity": None, "renewTime": None})

    @contextlib.contextmanager
    def holding(self, name: str) -> Iterator[threading.Event]:
        """Renew NAME in the background while the block runs; the event is set if it was lost."""
        lost = threading.Event()
        stop = threading.Event()

        def renew_loop() -> None:
            pause = self.duration / 4
            while not stop.wait(pause):
                try:
                    self.renew(name)
                    pause = self.duration / 4
                except SlotLost:
                    lost.set()
                    return
                except KubeError:
                    pause = min(1.0, self.duration / 8)  # an API hiccup: try again well before expiry

        thread = threading.Thread(target=renew_loop, name=f"renew-{name}", daemon=True)
        thread.start()
        try:
            yield lost
        finally:
            stop.set()
            thread.join()
            self.release_slot(name)
