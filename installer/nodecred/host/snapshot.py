"""What the planner knows of a host: the bytes of the files it may read, as a plain mapping.

`Snapshot` is data (tests build one from a dict). `take` is the one reader: it walks the
host's root in rounds (unit files, then the environment files they name, then the provider
config the kubelet command line names) and never writes.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field

from nodecred.host import units
from nodecred.host.flags import BIN_DIR_FLAG, CONFIG_FLAG, flag_values

# Services a kubelet runs under, per distribution (the profiles decide which one is live).
SERVICES = (
    "kubelet.service",
    "k3s-agent.service",
    "k3s.service",
    "rke2-agent.service",
    "rke2-server.service",
    "snap.microk8s.daemon-kubelite.service",
)
KNOWN_FILES = (
    "/etc/default/kubelet",
    "/etc/sysconfig/kubelet",
    "/etc/eks/kubelet/environment",
    "/etc/eks/image-credential-provider/config.json",
    "/etc/rancher/k3s/config.yaml",
    "/etc/rancher/rke2/config.yaml",
    "/var/lib/rancher/credentialprovider/config.yaml",
    "/var/snap/microk8s/current/args/kubelet",
)
KNOWN_DIRS = (
    "/etc/eks/image-credential-provider",
    "/var/lib/rancher/credentialprovider",
    "/var/lib/rancher/credentialprovider/bin",
)
MAX_FILE = 4 * 1024 * 1024


class SnapshotError(OSError):
    """A path the planner needs cannot be read: nothing is planned, nothing changes."""


@dataclass
class Snapshot:
    files: dict[str, bytes] = field(default_factory=dict)  # regular files (symlinks followed)
    modes: dict[str, int] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)  # symlink -> its target, as written
    dirs: dict[str, list[str]] = field(default_factory=dict)  # directory -> entry names
    live_argv: list[str] | None = None  # the running kubelet's, when known

    def read(self, path: str) -> bytes | None:
        return self.files.get(path)

    def listdir(self, path: str) -> list[str]:
        return self.dirs.get(path, [])

    def exists(self, path: str) -> bool:
        return path in self.files or path in self.dirs or path in self.links

    def is_dir(self, path: str) -> bool:
        return path in self.dirs


def _host_path(root: str, path: str) -> str:
    return os.path.join(root, path.lstrip("/"))


def _read_into(snap: Snapshot, root: str, path: str) -> None:
    if path in snap.files or path in snap.dirs:
        return
    full = _host_path(root, path)
    try:
        info = os.lstat(full)
    except FileNotFoundError:
        return
    except OSError as err:
        raise SnapshotError(f"cannot inspect {path}: {err.strerror}") from None
    linked = stat.S_ISLNK(info.st_mode)
    if linked:
        snap.links[path] = os.readlink(full)
        try:
            info = os.stat(full)
        except OSError:
            return  # dangling: the link is recorded, the target is absent
    if stat.S_ISDIR(info.st_mode):
        try:
            snap.dirs[path] = sorted(os.listdir(full))
        except OSError as err:
            raise SnapshotError(f"cannot list {path}: {err.strerror}") from None
        return
    if not stat.S_ISREG(info.st_mode):
        return
    if info.st_size > MAX_FILE:
        if linked:
            return  # a link to a binary: the link is what the planner needs
        raise SnapshotError(f"{path} is {info.st_size} bytes; a kubelet flag or config file is far smaller")
    try:
        with open(full, "rb") as handle:
            snap.files[path] = handle.read(MAX_FILE + 1)
    except OSError as err:
        raise SnapshotError(f"cannot read {path}: {err.strerror}: fix its permissions") from None
    snap.modes[path] = stat.S_IMODE(info.st_mode)


def _read_all(snap: Snapshot, root: str, paths: Iterable[str]) -> None:
    for path in paths:
        _read_into(snap, root, path)


def add(snap: Snapshot, root: str, paths: Iterable[str]) -> None:
    """Read more PATHS into SNAP (a second round, once a listing names them)."""
    _read_all(snap, root, paths)


def take(
    root: str,
    extra: Iterable[str] = (),
    live_argv: list[str] | None = None,
    loaded_units: dict[str, bytes] | None = None,
) -> Snapshot:
    """Everything under ROOT the profiles and the planner look at, plus EXTRA paths.

    LOADED_UNITS are unit files as the running systemd reports them (`systemctl cat`): they add
    the ones ROOT does not show, such as drop-ins on the host's /run, which a pod's view of the
    host root does not include."""
    snap = Snapshot(live_argv=live_argv)
    for name in SERVICES:
        _read_all(snap, root, units.unit_paths(name))
        for directory in units.dropin_dirs(name):
            _read_into(snap, root, directory)
            _read_all(snap, root, (f"{directory}/{e}" for e in snap.listdir(directory)))
    for path, data in (loaded_units or {}).items():
        if path not in snap.files:
            snap.files[path] = data
            folder, name = path.rsplit("/", 1)
            snap.dirs[folder] = sorted({*snap.dirs.get(folder, []), name})
    _read_all(snap, root, KNOWN_FILES)
    _read_all(snap, root, KNOWN_DIRS)
    _read_all(snap, root, extra)
    argvs = [live_argv or []]
    for name in SERVICES:
        service = units.load_service(name, snap.read, snap.listdir)
        if service is None:
            continue
        _read_all(snap, root, (ref.path for ref in service.environment_files))
        try:
            argvs.append(units.effective_argv(service, snap.read))
        except units.UnitError:
            continue
    targets: list[str] = [*KNOWN_FILES, *KNOWN_DIRS]
    for argv in argvs:
        targets += [
            v for v in flag_values(argv, CONFIG_FLAG) + flag_values(argv, BIN_DIR_FLAG) if v.startswith("/")
        ]
        for value in flag_values(argv, CONFIG_FLAG):
            if value.startswith("/"):
                _read_into(snap, root, value)  # a file, or a directory of config files (1.34+)
                _read_all(snap, root, (f"{value}/{e}" for e in snap.listdir(value)))
        for value in flag_values(argv, BIN_DIR_FLAG):
            if value.startswith("/"):
                _read_into(snap, root, value)  # its listing only: binaries are not read
    # Which ancestors exist tells the planner which directories nodecred would create.
    _read_all(snap, root, sorted(ancestors(targets)))
    return snap


def ancestors(paths: Iterable[str]) -> set[str]:
    out: set[str] = set()
    for path in paths:
        folder = os.path.dirname(path)
        while folder not in ("/", "") and folder not in out:
            out.add(folder)
            folder = os.path.dirname(folder)
    return out
