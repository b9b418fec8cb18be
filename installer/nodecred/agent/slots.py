"""Restart slots: at most k kubelets restarting cluster-wide, one coordination.k8s.io/v1 Lease each.

A slot is the Lease `<release>-restart-<i>` for i < k. Taking one is a create (409: taken) or,
for a free or expired one, a replace carrying the resourceVersion we read (409: somebody was
faster). The holder renews it while the restart and its verification run; an agent that
crashed (or a node that was deleted) stops renewing, and its slot is free once
leaseDurationSeconds have passed since its last renewal. The API server never expires a Lease
by itself; expiry is this reading of renewTime, the same convention client-go's leader election
uses.

A holder done with its slot hands it to the longest waiting node (the one whose Node has said
WaitingForSlot longest) by writing that node's name as the holder: waiters watch the Leases and
the one named takes over at once, so a freed slot neither idles until somebody polls nor sends
every waiter racing for it. A node handed a slot that no longer wants it (it died, or got
another) stops renewing it and the slot comes free at expiry.
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
        self.transitions: dict[str, int] = {}  # slot -> leaseTransitions when we took it
        # The watch that found our slot, kept open while we hold it: (watch, its events, the slot).
        self._watching: tuple[Any, Iterator[tuple[str, dict[str, Any]]], str] | None = None

    def name(self, index: int) -> str:
        return f"{self.release}-restart-{index}"

    def _spec(self, acquire: float | None, transitions: int, holder: str = "") -> dict[str, Any]:
        now = self.clock()
        return {
            "holderIdentity": holder or self.identity,
            "leaseDurationSeconds": max(1, round(self.duration)),
            "acquireTime": micro_time(acquire if acquire is not None else now),
            "renewTime": micro_time(now),
            "leaseTransitions": transitions,
        }

    def _live(self, spec: dict[str, Any]) -> bool:
        """SPEC was renewed (or acquired) less than its lease duration ago."""
        renewed = _parse(spec.get("renewTime") or spec.get("acquireTime"))
        return self.clock() < renewed + float(spec.get("leaseDurationSeconds") or self.duration)

    def held_by_other(self, lease: dict[str, Any]) -> bool:
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        return bool(holder) and holder != self.identity and self._live(spec)

    def try_acquire(self, slots: int) -> str | None:
        """The name of a slot we now hold, or None when all SLOTS are held by live agents."""
        existing = self.kube.leases(self.namespace)
        order = list(range(slots))
        random.shuffle(order)  # waiting agents spread over the free slots instead of racing for slot 0
        # Missing slots are created first, each until one is ours: a slot nobody creates would
        # idle until a waiter's watch times out, and agents that start together pick the same
        # few. Existing ones are taken after, in the same spread order.
        for index in sorted(order, key=lambda i: self.name(i) in existing):
            name = self.name(index)
            if self._take(name, existing.get(name)):
                return name
        return None

    def _take(self, name: str, lease: dict[str, Any] | None) -> bool:
        """Take NAME as LEASE shows it (None: not created yet): one write, False when it is held by
        a live agent or somebody was faster."""
        if lease is None:
            body = {"metadata": {"name": name, "namespace": self.namespace}, "spec": self._spec(None, 0)}
            try:
                created = self.kube.create_lease(self.namespace, body)
            except KubeError as err:
                if err.status == 409:
                    return False
                raise
            self.held[name] = _version(created)
            self.transitions[name] = 0
            return True
        if self.held_by_other(lease):
            return False
        spec = lease.get("spec") or {}
        ours = spec.get("holderIdentity") == self.identity
        transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours else 1)
        acquired = _parse(spec.get("acquireTime")) if ours else None
        try:
            self.held[name] = self.kube.update_lease(
                self.namespace, name, _version(lease), self._spec(acquired, transitions)
            )
        except KubeError as err:
            if err.status in (404, 409):
                return False
            raise
        self.transitions[name] = transitions
        return True

    def handed_to_us(self, lease: dict[str, Any]) -> bool:
        """LEASE names us as its live holder: a releasing holder handed it over; it is ours now."""
        spec = lease.get("spec") or {}
        if spec.get("holderIdentity") != self.identity or not self._live(spec):
            return False
        name = str((lease.get("metadata") or {}).get("name"))
        self.held[name] = _version(lease)
        self.transitions[name] = int(spec.get("leaseTransitions") or 0)
        return True

    def acquire(
        self,
        slots: int,
        stop: threading.Event,
        on_wait: Callable[[], None],
    ) -> str | None:
        """A slot we hold, waiting as long as it takes (None: STOP was set). ON_WAIT runs once when
        all are held (the agent says WaitingForSlot, which is how holders find it); then the Leases
        are watched: a slot handed to us is ours, a free one is taken with one write. The watch is
        kept open while we hold the slot (see holding): a second slot handed to us meanwhile is
        passed on at once instead of idling until it expires."""
        name = self.try_acquire(slots)
        if name:
            return name
        on_wait()
        names = {self.name(i) for i in range(slots)}
        pause = 1.0
        while not stop.is_set():
            try:
                name = self._watch_for_slot(names, stop)
            except KubeError:
                stop.wait(pause * random.uniform(0.5, 1.5))  # noqa: S311 - spread, not crypto
                pause = min(pause * 2, self.duration / 4)
                name = None
            if name or stop.is_set():
                return name
            # The watch went quiet for a lease duration (no live holder renews: an expiry may be
            # due) or broke: one LIST takes any slot that is free, missing or expired.
            name = self.try_acquire(slots)
            if name:
                return name
        return None

    def _watch_for_slot(self, names: set[str], stop: threading.Event) -> str | None:
        seen: dict[str, dict[str, Any]] = {}
        tried: set[tuple[str, str]] = set()  # (slot, resourceVersion) we already tried to take
        # When an expired slot may be tried: every waiter sees the expiry at once, so each waits a
        # random part of a quarter lease first and the first one's take reaches the others in time.
        expired_at: dict[tuple[str, str], float] = {}
        watch = self.kube.watch_leases(self.namespace, idle_timeout=self.duration)
        events = watch.events()
        for kind, lease in events:
            if stop.is_set():
                break
            name = str((lease.get("metadata") or {}).get("name"))
            if name not in names:
                continue
            if kind == "DELETED":
                seen.pop(name, None)
                continue
            seen[name] = lease
            if self.handed_to_us(lease) or self._take_free(seen, tried, expired_at):
                taken = name if name in self.held else next(n for n in seen if n in self.held)
                self._watching = (watch, events, taken)
                return taken
        return None

    def _take_free(
        self,
        seen: dict[str, dict[str, Any]],
        tried: set[tuple[str, str]],
        expired_at: dict[tuple[str, str], float],
    ) -> bool:
        """Take one slot that SEEN shows free (no holder) or expired, trying each version once."""
        now = self.clock()
        for slot, lease in seen.items():
            key = (slot, _version(lease))
            if key in tried or self.held_by_other(lease):
                continue
            if (lease.get("spec") or {}).get("holderIdentity"):  # expired, not freed
                due = expired_at.setdefault(key, now + random.uniform(0, self.duration / 4))  # noqa: S311
                if now < due:
                    continue
            tried.add(key)
            if self._take(slot, lease):
                return True
        return False

    def _pass_on(
        self, events: Iterator[tuple[str, dict[str, Any]]], ours: str, successors: Callable[[], list[str]]
    ) -> None:
        """While we hold OURS: any other slot handed to us goes to the next waiter."""
        for _kind, lease in events:
            name = str((lease.get("metadata") or {}).get("name"))
            if name != ours and self.handed_to_us(lease):
                self.release_slot(name, successors())

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

    def release_slot(self, name: str, successors: list[str] | None = None) -> None:
        """Free NAME, or hand it to the first of SUCCESSORS (the longest waiting nodes, in order).
        Holders releasing at the same moment would pick the same node, so the slot's index picks
        among the first few."""
        version = self.held.pop(name, "")
        if not version:
            return
        spec: dict[str, Any] = {"holderIdentity": None, "renewTime": None}
        if successors:
            index = int(name.rsplit("-", 1)[1]) if name.rsplit("-", 1)[1].isdigit() else 0
            heir = successors[index % len(successors)]
            spec = self._spec(None, self.transitions.get(name, 0) + 1, holder=heir)
        with contextlib.suppress(KubeError):  # a 409 means it is not ours any more; expiry frees it otherwise
            self.kube.update_lease(self.namespace, name, version, spec)

    @contextlib.contextmanager
    def holding(self, name: str, successors: Callable[[], list[str]] = list) -> Iterator[threading.Event]:
        """Renew NAME in the background while the block runs; the event is set if it was lost.
        Then hand it to the first of SUCCESSORS() (or free it)."""
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

        renewer = threading.Thread(target=renew_loop, name=f"renew-{name}", daemon=True)
        renewer.start()
        watching, self._watching = self._watching, None
        if watching is not None and watching[2] != name:  # a watch left from a wait that led nowhere
            watching[0].close()
            watching = None
        if watching is not None:
            # Not joined: closing the watch ends it, and the next holder must not wait for that.
            threading.Thread(
                target=self._pass_on,
                args=(watching[1], name, successors),
                name=f"pass-on-{name}",
                daemon=True,
            ).start()
        try:
            yield lost
        finally:
            stop.set()
            if watching is not None:
                watching[0].close()
            renewer.join()
            self.release_slot(name, successors() if name in self.held else None)
