"""What nodecred changed on this host and what was there before: the basis of uninstall.

Kept at <stateDir>/state.json (root only). For every path nodecred wrote it records how it
changed it (its own file, an edit of someone else's provider config, flags in an environment
variable or an args file, a link, a tree) and the original bytes, so that uninstall can give a
file back byte for byte when nobody touched it since, and otherwise remove only nodecred's part.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

STATE_FILE = "state.json"
OWN = "own"  # a file nodecred created; uninstall deletes it
PROVIDER_SETTINGS = "provider-settings"  # nodecred's provider settings: no kubelet restart
SECRET = "secret"  # noqa: S105 - a record kind, not a password; a credential file for the provider (0600 in a 0700 directory); no restart
PROVIDER_CONFIG = "provider-config"  # someone else's CredentialProviderConfig with our entry
ARGS_FILE = "args-file"  # a MicroK8s args file with our flag lines
LINK = "link"
TREE = "tree"
DIR = "dir"  # a directory nodecred created; uninstall removes it when it is empty
ENV_VAR = "env-var:"  # + the variable: an EnvironmentFile variable holding our flags


def sha256(data: bytes | None) -> str:
    return hashlib.sha256(data).hexdigest() if data is not None else ""


@dataclass(frozen=True)
class Record:
    kind: str
    original: bytes | None = field(default=None, repr=False)  # None: the path did not exist
    original_mode: int = 0o644
    written: str = ""  # sha256 of what nodecred last wrote ("" for links and trees)

    def restarts_kubelet(self) -> bool:
        return self.kind in (OWN, PROVIDER_CONFIG, ARGS_FILE) or self.kind.startswith(ENV_VAR)


@dataclass(frozen=True)
class State:
    profile: str = ""
    unit: str = ""
    records: dict[str, Record] = field(default_factory=dict)

    def encode(self) -> bytes:
        body: dict[str, Any] = {"version": 1, "profile": self.profile, "unit": self.unit, "paths": {}}
        for path, record in sorted(self.records.items()):
            body["paths"][path] = {
                "kind": record.kind,
                "original": None if record.original is None else base64.b64encode(record.original).decode(),
                "originalMode": record.original_mode,
                "written": record.written,
            }
        return json.dumps(body, indent=2, sort_keys=True).encode() + b"\n"


class StateError(ValueError):
    """state.json cannot be read: uninstall cannot know what to give back."""


def decode(data: bytes | None, path: str) -> State | None:
    if data is None:
        return None
    try:
        body = json.loads(data)
        records = {
            p: Record(
                kind=str(r["kind"]),
                original=None if r["original"] is None else base64.b64decode(r["original"]),
                original_mode=int(r.get("originalMode", 0o644)),
                written=str(r.get("written", "")),
            )
            for p, r in body["paths"].items()
        }
        return State(str(body.get("profile", "")), str(body.get("unit", "")), records)
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        raise StateError(
            f"{path} is not nodecred's state file ({err}); restore it or remove it by hand"
        ) from None
