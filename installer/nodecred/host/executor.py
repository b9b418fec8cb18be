"""Apply a plan to the host under ROOT: host lock, journal first, atomic steps, resume or roll back.

The journal (<stateDir>/journal.json) holds the plan's ops, every touched path's original
content, and the index of the last finished op; it is written and fsynced before the first
change and after every op. Each op is idempotent, so an interrupted apply is finished by
re-running the ops after the last recorded one; a rollback restores the originals in reverse.
Every file is written as temp + fsync + rename in its own directory, links are swapped by
rename, and the provider build is copied to a new versioned directory: a kubelet exec never
sees a half-written file or hits ETXTBSY.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import itertools
import json
import os
import shutil
import signal
import stat
import tempfile
from dataclasses import dataclass
from typing import Any

from nodecred.errors import NodecredError
from nodecred.host.plan import (
    DIGEST_MARKER,
    InstallTree,
    Op,
    Remove,
    RemoveEmptyDir,
    RemoveTree,
    Symlink,
    WriteFile,
)

JOURNAL = "journal.json"
APPLYING, APPLIED, ROLLING_BACK = "applying", "applied", "rolling-back"


class ApplyError(NodecredError):
    """A step failed; the caller rolls back from the journal."""


_CRASH_AT = int(os.environ.get("NODECRED_TEST_CRASH_AT", "0") or 0)
_passed = itertools.count(1)


def checkpoint() -> None:
    """A point where a crash must leave a recoverable host. The fault-injection tests set
    NODECRED_TEST_CRASH_AT=N to SIGKILL this process at the Nth one; unset, it does nothing."""
    if _CRASH_AT and next(_passed) == _CRASH_AT:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _makedirs(path: str, mode: int = 0o755) -> None:
    if not os.path.isdir(path):
        _makedirs(os.path.dirname(path), mode)
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, mode)
            _fsync_dir(os.path.dirname(path))


def atomic_write(path: str, data: bytes, mode: int) -> None:
    directory = os.path.dirname(path)
    _makedirs(directory, 0o700 if mode & 0o077 == 0 else 0o755)  # a secret's new directory is root's alone
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".nodecred-")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            checkpoint()
            os.fsync(handle.fileno())
        checkpoint()
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(directory)


def atomic_symlink(path: str, target: str) -> None:
    directory = os.path.dirname(path)
    _makedirs(directory)
    tmp = os.path.join(directory, f".nodecred-link-{os.getpid()}")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.symlink(target, tmp)
    checkpoint()
    os.replace(tmp, path)
    _fsync_dir(directory)


def _copy_tree(source: str, dest: str, digest: str) -> None:
    marker = os.path.join(dest, DIGEST_MARKER)
    with contextlib.suppress(OSError), open(marker, "rb") as handle:
        if handle.read() == digest.encode():
            return
    parent = os.path.dirname(dest)
    _makedirs(parent)
    staging = tempfile.mkdtemp(dir=parent, prefix=".nodecred-tree-")
    try:
        inner = os.path.join(staging, "tree")
        if os.path.isdir(source):
            shutil.copytree(source, inner, symlinks=True)
        else:
            os.mkdir(inner, 0o755)
            shutil.copy2(source, os.path.join(inner, "nodecred-provider"))
        for folder, _, names in os.walk(inner):
            for name in names:
                full = os.path.join(folder, name)
                if not os.path.islink(full):
                    fd = os.open(full, os.O_RDONLY)
                    os.fsync(fd)
                    os.close(fd)
        with open(os.path.join(inner, DIGEST_MARKER), "wb") as handle:
            handle.write(digest.encode())
            os.fsync(handle.fileno())
        checkpoint()
        if os.path.lexists(dest):
            shutil.rmtree(dest)  # a partial copy from an interrupted run: it has no marker
        os.rename(inner, dest)
        _fsync_dir(parent)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def sweep_temporaries(folder: str) -> None:
    """Remove the .nodecred-* temporaries a killed write, link swap or tree copy left in FOLDER."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        if name.startswith(".nodecred-"):
            full = os.path.join(folder, name)
            if os.path.isdir(full) and not os.path.islink(full):
                shutil.rmtree(full, ignore_errors=True)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(full)


def _under(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def do(root: str, op: Op) -> None:
    """One op, idempotent: running it again after it finished changes nothing."""
    if isinstance(op, WriteFile):
        atomic_write(_under(root, op.path), op.data, op.mode)
    elif isinstance(op, Symlink):
        atomic_symlink(_under(root, op.path), op.target)
    elif isinstance(op, InstallTree):
        _copy_tree(op.source, _under(root, op.dest), op.digest)
    elif isinstance(op, Remove):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(_under(root, op.path))
    elif isinstance(op, RemoveEmptyDir):
        with contextlib.suppress(FileNotFoundError, OSError):  # ENOTEMPTY: someone else uses it
            os.rmdir(_under(root, op.path))
    else:
        shutil.rmtree(_under(root, op.path), ignore_errors=True)


def _original(root: str, path: str) -> dict[str, Any]:
    full = _under(root, path)
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return {"kind": "absent"}
    if stat.S_ISLNK(info.st_mode):
        return {"kind": "link", "target": os.readlink(full)}
    if stat.S_ISDIR(info.st_mode):
        return {"kind": "dir"}
    with open(full, "rb") as handle:
        data = handle.read()
    return {"kind": "file", "data": base64.b64encode(data).decode(), "mode": stat.S_IMODE(info.st_mode)}


def _restore(root: str, path: str, original: dict[str, Any]) -> None:
    full = _under(root, path)
    kind = original["kind"]
    if kind != "dir" and _original(root, path) == original:
        return  # never changed (or already restored): no write, so a read-only path is no obstacle
    if kind == "file":
        atomic_write(full, base64.b64decode(original["data"]), int(original["mode"]))
    elif kind == "link":
        atomic_symlink(full, original["target"])
    elif kind == "absent":
        if os.path.isdir(full) and not os.path.islink(full):
            shutil.rmtree(full, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(full)


def _encode_op(op: Op) -> dict[str, Any]:
    body: dict[str, Any] = {"op": type(op).__name__, **op.__dict__}
    if isinstance(op, WriteFile):
        body["data"] = base64.b64encode(op.data).decode()
    return body


def _decode_op(body: dict[str, Any]) -> Op:
    kind = body.pop("op")
    if kind == "WriteFile":
        return WriteFile(
            body["path"], base64.b64decode(body["data"]), int(body["mode"]), bool(body.get("secret", False))
        )
    classes: dict[str, Any] = {
        "Symlink": Symlink,
        "InstallTree": InstallTree,
        "Remove": Remove,
        "RemoveEmptyDir": RemoveEmptyDir,
    }
    return classes.get(kind, RemoveTree)(**body)  # type: ignore[no-any-return]


@dataclass
class Journal:
    path: str  # on the host, under root
    ops: list[Op]
    originals: list[dict[str, Any]]  # per op, the state of its path before any change
    step: int = -1  # the last op finished
    phase: str = APPLYING
    context: dict[str, Any] | None = None  # what the caller needs to finish (restart, verify)

    def save(self) -> None:
        body = {
            "phase": self.phase,
            "step": self.step,
            "ops": [_encode_op(op) for op in self.ops],
            "originals": self.originals,
            "context": self.context or {},
        }
        atomic_write(self.path, json.dumps(body).encode(), 0o600)

    @classmethod
    def load(cls, path: str) -> Journal | None:
        try:
            with open(path, "rb") as handle:
                body = json.load(handle)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            raise ApplyError(f"{path} is unreadable ({err}); the last change's state is unknown") from None
        return cls(
            path,
            [_decode_op(dict(o)) for o in body["ops"]],
            body["originals"],
            int(body["step"]),
            str(body["phase"]),
            body.get("context") or {},
        )

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        _fsync_dir(os.path.dirname(self.path))


def _op_path(op: Op) -> str:
    return op.dest if isinstance(op, InstallTree) else op.path


class Executor:
    """Applies plans under ROOT. Use as a context manager: it holds the host lock."""

    def __init__(self, root: str, state_dir: str, lock: str) -> None:
        self.root = root
        self.journal_path = _under(root, f"{state_dir}/{JOURNAL}")
        self.lock_path = _under(root, lock)
        self._lock_fd = -1

    def __enter__(self) -> Executor:
        _makedirs(os.path.dirname(self.lock_path))
        self._lock_fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *_: object) -> None:
        os.close(self._lock_fd)

    def pending(self) -> Journal | None:
        """The journal a killed run left, after sweeping the temporaries such a run leaves."""
        journal = Journal.load(self.journal_path)
        folders = {os.path.dirname(self.journal_path)}
        for op in journal.ops if journal else []:
            folders.add(os.path.dirname(_under(self.root, _op_path(op))))
        for folder in folders:
            sweep_temporaries(folder)
        return journal

    def begin(self, ops: list[Op], context: dict[str, Any]) -> Journal:
        journal = Journal(self.journal_path, ops, [_original(self.root, _op_path(op)) for op in ops])
        journal.context = context
        journal.save()
        checkpoint()
        return journal

    def run(self, journal: Journal) -> None:
        """Finish the ops after the last recorded one, recording each."""
        for index in range(journal.step + 1, len(journal.ops)):
            try:
                do(self.root, journal.ops[index])
            except OSError as err:
                raise ApplyError(f"{_op_path(journal.ops[index])}: {err.strerror or err}") from None
            checkpoint()
            journal.step = index
            journal.save()
            checkpoint()
        journal.phase = APPLIED
        journal.save()
        checkpoint()

    def rollback(self, journal: Journal) -> None:
        """Give every touched path back its original, newest change first."""
        journal.phase = ROLLING_BACK
        journal.save()
        checkpoint()
        seen: set[str] = set()
        restore = []
        for op, original in zip(journal.ops, journal.originals, strict=True):
            path = _op_path(op)
            if path not in seen:  # the first record of a path is its state before the plan
                seen.add(path)
                restore.append((path, original))
        for path, original in reversed(restore):
            _restore(self.root, path, original)
            checkpoint()
        journal.remove()

    def finish(self, journal: Journal) -> None:
        journal.remove()
        checkpoint()


def cleanup(root: str, ops: tuple[Op, ...] | list[Op]) -> None:
    for op in ops:
        do(root, op)
