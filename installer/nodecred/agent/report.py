"""What the Node should say about this node, and the smallest merge patch that makes it so. Pure."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from dataclasses import dataclass

STATES = (
    "Pending",
    "Installing",
    "WaitingForSlot",
    "Restarting",
    "Installed",
    "Failed",
    "RolledBack",
    "Uninstalling",
    "Uninstalled",
    "Unsupported",
)
READY_STATES = ("Installed",)
WAITING_LABEL = "waiting"  # <prefix>waiting=true while the node waits for a restart slot
MAX_MESSAGE = 1024  # an annotation is not a log; the kubelet lines are cut to fit


@dataclass(frozen=True)
class Report:
    state: str
    message: str = ""
    profile: str | None = None  # None: keep what the Node says
    config_hash: str | None = None
    provider_version: str | None = None
    probe: str | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise ValueError(f"unknown state {self.state!r}")


def rfc3339(now: float) -> str:
    return datetime.datetime.fromtimestamp(now, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def node_patch(
    prefix: str,
    annotations: Mapping[str, str],
    labels: Mapping[str, str],
    report: Report,
    now: float,
) -> dict[str, dict[str, dict[str, str | None]]] | None:
    """A JSON merge patch setting only the keys whose values change; None when none does.

    last-transition moves only when the state does, so a re-run that changes nothing writes
    nothing. The ready label is `true` only for Installed; the waiting label is there only while
    WaitingForSlot (holders of restart slots find the waiting nodes by it, and the API server
    filters by labels, not annotations)."""
    changed_state = annotations.get(prefix + "state") != report.state
    wanted = {
        "state": report.state,
        "message": report.message[:MAX_MESSAGE],
        "profile": report.profile,
        "config-hash": report.config_hash,
        "provider-version": report.provider_version,
        "probe": report.probe,
    }
    if changed_state or prefix + "last-transition" not in annotations:
        wanted["last-transition"] = rfc3339(now)
    out_annotations = {
        prefix + key: value
        for key, value in wanted.items()
        if value is not None and annotations.get(prefix + key) != value
    }
    ready_key = prefix.rstrip("/") + "/ready"
    ready = "true" if report.state in READY_STATES else "false"
    out_labels: dict[str, str | None] = {}
    if labels.get(ready_key) != ready:
        out_labels[ready_key] = ready
    waiting_key = prefix.rstrip("/") + "/" + WAITING_LABEL
    if report.state == "WaitingForSlot" and labels.get(waiting_key) != "true":
        out_labels[waiting_key] = "true"
    elif report.state != "WaitingForSlot" and waiting_key in labels:
        out_labels[waiting_key] = None  # merge patch: remove
    metadata: dict[str, dict[str, str | None]] = {}
    if out_annotations:
        metadata["annotations"] = dict(out_annotations)
    if out_labels:
        metadata["labels"] = out_labels
    return {"metadata": metadata} if metadata else None


def event_for(
    node: str, previous: str | None, report: Report, now: float, serial: int
) -> dict[str, object] | None:
    """A core/v1 Event on the Node for a state change; None when the state did not change."""
    if previous == report.state:
        return None
    stamp = rfc3339(now)
    warning = report.state in ("Failed", "RolledBack", "Unsupported")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # A name of our own (generateName is the server's job, which not every server does).
        "metadata": {"name": f"{node}.nodecred.{int(now * 1000):x}{serial:02x}", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node, "uid": node},
        "reason": report.state,
        "message": (f"{previous or 'none'} -> {report.state}: {report.message}")[:MAX_MESSAGE],
        "type": "Warning" if warning else "Normal",
        "source": {"component": "nodecred-agent", "host": node},
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
        "reportingComponent": "nodecred-agent",
        "reportingInstance": node,
    }
