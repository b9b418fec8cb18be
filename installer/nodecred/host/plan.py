"""The planner: a host snapshot in, the exact changes out. Pure; never touches the disk.

Install order keeps the kubelet safe at every step (the executor applies ops in order and a
crash can stop it anywhere): the provider binary and its links first, then the provider
settings, then the provider config, and the flags that point at that config last. Uninstall
runs the other way round. Every config the kubelet would load afterwards is validated with
nodecred.kubelet's rules first, and each provider it names must have a binary in the bin dir.
No change -> no op, no restart.
"""

from __future__ import annotations

import difflib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from nodecred.host import profiles
from nodecred.host import state as st
from nodecred.host.flags import (
    BIN_DIR_FLAG,
    CONFIG_FLAG,
    env_var_words,
    flag_values,
    remove_args_file_flags,
    set_args_file_flags,
    set_env_var_words,
    with_flags,
    without_flags,
)
from nodecred.host.profiles.base import MergeSite, Target, Unsupported
from nodecred.host.settings import PROVIDER_NAME, HostSettings, provider_settings_bytes
from nodecred.host.snapshot import Snapshot
from nodecred.host.units import UnitError, effective_argv, load_service
from nodecred.kubelet.encode import MergeError, merge, render
from nodecred.kubelet.load import CONFIG_EXTENSIONS, LoadError, check, load_files
from nodecred.kubelet.model import CredentialProviderConfig

OWN_DIR_FILE = "90-nodecred.yaml"  # our file in a config directory (kubelet >= 1.34)
DIGEST_MARKER = ".nodecred-digest"
EXECUTABLE = "nodecred-provider"


class PlanError(ValueError):
    """The change would leave the kubelet unable to start, or the host is not as expected."""


@dataclass(frozen=True)
class WriteFile:
    path: str
    data: bytes = field(repr=False)
    mode: int = 0o644
    secret: bool = False  # never shown: `describe` prints its size, not a diff


@dataclass(frozen=True)
class Symlink:
    path: str
    target: str


@dataclass(frozen=True)
class InstallTree:
    """Copy the provider build at SOURCE to DEST (a new, versioned directory)."""

    source: str
    dest: str
    digest: str


@dataclass(frozen=True)
class Remove:
    path: str


@dataclass(frozen=True)
class RemoveTree:
    path: str


@dataclass(frozen=True)
class RemoveEmptyDir:
    """A directory nodecred created, removed only if nothing else was put in it."""

    path: str


Op = WriteFile | Symlink | InstallTree | Remove | RemoveTree | RemoveEmptyDir


@dataclass(frozen=True)
class Binary:
    """The provider build to install: a onedir directory (or one file) and its content digest."""

    source: str
    digest: str


@dataclass(frozen=True)
class Plan:
    action: str  # "install" or "uninstall"
    profile: str
    unit: str
    ops: tuple[Op, ...] = ()
    cleanup: tuple[Op, ...] = ()  # after a verified restart: provider versions no longer used
    restart: bool = False
    expected_flags: dict[str, str] = field(default_factory=dict)  # on the kubelet's argv, once each
    forbidden_values: tuple[str, ...] = ()  # values no provider flag may have afterwards
    embedded_kubelet: bool = False
    notes: tuple[str, ...] = ()
    config_path: str = ""  # the provider config the kubelet loads afterwards (file or directory)

    @property
    def empty(self) -> bool:
        return not self.ops and not self.cleanup


@dataclass
class _Builder:
    snap: Snapshot
    previous: st.State | None
    ops: list[Op] = field(default_factory=list)
    records: dict[str, st.Record] = field(default_factory=dict)
    restart: bool = False

    def write(self, path: str, data: bytes, kind: str, mode: int = 0o644, secret: bool = False) -> None:
        old = self.snap.read(path)
        before = self.previous.records.get(path) if self.previous else None
        original = before.original if before else old
        original_mode = before.original_mode if before else self.snap.modes.get(path, mode)
        self.records[path] = st.Record(kind, original, original_mode, st.sha256(data))
        if old == data and self.snap.modes.get(path, mode) == mode and path not in self.snap.links:
            return
        self.ops.append(WriteFile(path, data, mode, secret))
        if self.records[path].restarts_kubelet():
            self.restart = True

    def link(self, path: str, target: str) -> None:
        self.records[path] = st.Record(st.LINK, None)
        if self.snap.links.get(path) != target:
            self.ops.append(Symlink(path, target))


def _state_path(settings: HostSettings) -> str:
    return f"{settings.paths.state_dir}/{st.STATE_FILE}"


def _previous(snap: Snapshot, settings: HostSettings) -> st.State | None:
    path = _state_path(settings)
    try:
        return st.decode(snap.read(path), path)
    except st.StateError as err:
        raise PlanError(str(err)) from None


def _validate(snap: Snapshot, config: str, new: dict[str, bytes], bin_dir: str, is_dir: bool) -> None:
    """The kubelet's own load and validation of CONFIG as it will be, and a binary per provider."""
    if is_dir:
        names = sorted(
            {n for n in snap.listdir(config) if n.endswith(CONFIG_EXTENSIONS)}
            | {posixpath.basename(p) for p in new if posixpath.dirname(p) == config}
        )
        files = [
            (f"{config}/{n}", new.get(f"{config}/{n}", snap.read(f"{config}/{n}") or b"")) for n in names
        ]
    else:
        files = [(config, new.get(config, snap.read(config) or b""))]
    try:
        loaded = load_files(files)
        check(loaded)
    except LoadError as err:
        raise PlanError(f"the kubelet would refuse {config}: {err}") from None
    present = set(snap.listdir(bin_dir)) | {PROVIDER_NAME}
    missing = [n for n in loaded.config.names() if n not in present]
    if missing:
        raise PlanError(f"the kubelet would exit: no binary for provider {missing[0]!r} in {bin_dir}")


def _flag_argv_check(snap: Snapshot, target: Target, new: dict[str, bytes], flags: dict[str, str]) -> None:
    """Recompute the command line from the edited files as systemd will: each flag once, ours."""
    if target.embedded_kubelet:
        return
    edited = Snapshot({**snap.files, **new}, snap.modes, snap.links, snap.dirs)
    service = load_service(target.unit, edited.read, edited.listdir)
    if service is None:
        raise PlanError(f"{target.unit} disappeared while planning")
    try:
        argv = effective_argv(service, edited.read)
    except UnitError as err:
        raise PlanError(str(err)) from None
    for flag, value in flags.items():
        if flag_values(argv, flag) != [value]:
            raise PlanError(
                f"after the edit the kubelet command line would carry {flag} as "
                f"{flag_values(argv, flag)}, not once as {value}: another source sets it"
            )


def _provider_ops(b: _Builder, settings: HostSettings, binary: Binary, bin_dir: str) -> list[Op]:
    root = settings.paths.provider_root
    version = f"provider-{binary.digest[:16]}"
    dest = f"{root}/{version}"
    if b.snap.read(f"{dest}/{DIGEST_MARKER}") != binary.digest.encode():
        b.ops.append(InstallTree(binary.source, dest, binary.digest))
    b.records[dest] = st.Record(st.TREE)
    b.link(f"{root}/provider", version)
    b.link(f"{bin_dir}/{PROVIDER_NAME}", f"{root}/provider/{EXECUTABLE}")
    return [
        RemoveTree(f"{root}/{n}") for n in b.snap.listdir(root) if n.startswith("provider-") and n != version
    ]


SECRET_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")  # a Secret key, as Kubernetes allows them


def _secret_ops(b: _Builder, settings: HostSettings, secrets: Mapping[str, bytes]) -> None:
    """Each key of the chart's Secret as a root-only file; keys that left the Secret are removed."""
    folder = settings.paths.secrets
    for name, data in sorted(secrets.items()):
        if not SECRET_NAME.match(name):
            raise PlanError(f"secret key {name!r}: use letters, digits, '.', '_' or '-' (no leading '.')")
        b.write(f"{folder}/{name}", data, st.SECRET, 0o600, secret=True)
    wanted = {f"{folder}/{name}" for name in secrets}
    for path, record in sorted((b.previous.records if b.previous else {}).items()):
        if record.kind == st.SECRET and path not in wanted and b.snap.exists(path):
            b.ops.append(Remove(path))


def plan_install(
    snap: Snapshot, settings: HostSettings, binary: Binary, secrets: Mapping[str, bytes] | None = None
) -> Plan | Unsupported:
    target = profiles.detect(snap, settings)
    if isinstance(target, Unsupported):
        return target
    previous = _previous(snap, settings)
    b = _Builder(snap, previous)
    provider = settings.provider()
    site = target.site
    bin_dir = site.bin_dir if isinstance(site, MergeSite) else settings.paths.bin_dir
    cleanup = _provider_ops(b, settings, binary, bin_dir)
    b.write(settings.paths.provider_settings, provider_settings_bytes(settings), st.PROVIDER_SETTINGS)
    _secret_ops(b, settings, secrets or {})
    new: dict[str, bytes] = {}
    expected: dict[str, str] = {}
    if isinstance(site, MergeSite):
        config_file = f"{site.config}/{OWN_DIR_FILE}" if site.config_is_dir else site.config
        existing = snap.read(config_file)
        before = previous.records.get(config_file) if previous else None
        created = existing is None or (before is not None and before.kind == st.OWN)
        kind = st.OWN if site.config_is_dir or created else st.PROVIDER_CONFIG
        if existing is None:
            data = render(CredentialProviderConfig((provider,)))
        else:
            try:
                data = merge(existing, upsert=[provider])
            except MergeError as err:
                raise PlanError(f"{config_file}: {err}") from None
        new[config_file] = data
        _validate(snap, site.config, new, bin_dir, site.config_is_dir)
        b.write(config_file, data, kind, snap.modes.get(config_file, 0o644))
        if not target.embedded_kubelet:
            expected = {CONFIG_FLAG: site.config, BIN_DIR_FLAG: site.bin_dir}
    else:
        config = settings.paths.config
        new[config] = render(CredentialProviderConfig((provider,)))
        _validate(snap, config, new, bin_dir, False)
        b.write(config, new[config], st.OWN)
        expected = {CONFIG_FLAG: config, BIN_DIR_FLAG: bin_dir}
        text = (snap.read(site.path) or b"").decode("utf-8", errors="replace")
        if site.kind == "env-var":
            words = env_var_words(text, site.var)
            wanted = with_flags(words, expected)
            edited = text if wanted == words else set_env_var_words(text, site.var, wanted)
            kind = st.ENV_VAR + site.var
        else:
            edited = set_args_file_flags(text, expected)
            kind = st.ARGS_FILE
        new[site.path] = edited.encode()
        _flag_argv_check(snap, target, new, expected)
        b.write(site.path, new[site.path], kind, snap.modes.get(site.path, 0o644))
    if b.restart and target.restart_blocked:
        return Unsupported(target.restart_blocked)
    for path in [*b.records, _state_path(settings)]:
        for folder in _missing_parents(snap, previous, path):
            b.records[folder] = st.Record(st.DIR)
    # The state directory is nodecred's by name, even when a killed run already created it.
    b.records[settings.paths.state_dir] = st.Record(st.DIR)
    state = st.State(target.profile, target.unit, b.records)
    if b.ops or previous != state:
        b.write(_state_path(settings), state.encode(), "state", 0o600)
    return Plan(
        "install",
        target.profile,
        target.unit,
        tuple(b.ops),
        tuple(cleanup),
        b.restart,
        expected,
        embedded_kubelet=target.embedded_kubelet,
        notes=target.notes,
        config_path=site.config if isinstance(site, MergeSite) else settings.paths.config,
    )


def _missing_parents(snap: Snapshot, previous: st.State | None, path: str) -> list[str]:
    """The ancestors of PATH that nodecred creates (or created, by its record), deepest first."""
    out = []
    folder = posixpath.dirname(path)
    while folder not in ("/", ""):
        recorded = (
            previous is not None and folder in previous.records and previous.records[folder].kind == st.DIR
        )
        if snap.is_dir(folder) and not recorded:
            break
        out.append(folder)
        folder = posixpath.dirname(folder)
    return out


_UNINSTALL_ORDER = (
    st.ARGS_FILE,
    st.ENV_VAR,
    st.PROVIDER_CONFIG,
    st.OWN,
    st.PROVIDER_SETTINGS,
    st.SECRET,
    st.LINK,
    st.TREE,
    st.DIR,
)


def _order(kind: str) -> int:
    return next(i for i, k in enumerate(_UNINSTALL_ORDER) if kind.startswith(k))


def _unedit(path: str, kind: str, current: bytes, settings: HostSettings) -> bytes | None:
    """CURRENT with only nodecred's part taken out (someone changed the file after us)."""
    text = current.decode("utf-8", errors="replace")
    ours = (CONFIG_FLAG, BIN_DIR_FLAG)
    if kind.startswith(st.ENV_VAR):
        var = kind[len(st.ENV_VAR) :]
        words = env_var_words(text, var)
        ours_now = flag_values(words, CONFIG_FLAG) == [settings.paths.config]
        return set_env_var_words(text, var, without_flags(words, ours)).encode() if ours_now else current
    if kind == st.ARGS_FILE:
        return remove_args_file_flags(text, ours).encode()
    if kind == st.PROVIDER_CONFIG:
        try:
            return merge(current, remove={PROVIDER_NAME})
        except MergeError as err:
            raise PlanError(f"{path}: {err}") from None
    return None  # own files, links and trees go


def plan_uninstall(snap: Snapshot, settings: HostSettings) -> Plan:
    previous = _previous(snap, settings)
    if previous is None:
        return Plan("uninstall", "", "")
    ops: list[Op] = []
    restart = False
    for path, record in sorted(previous.records.items(), key=lambda kv: (_order(kv[1].kind), kv[0])):
        if record.kind == st.DIR:
            continue  # after the state file, below
        if record.kind == st.TREE:
            if snap.exists(path) or snap.read(f"{path}/{DIGEST_MARKER}") is not None:
                ops.append(RemoveTree(path))
            continue
        if record.kind == st.LINK:
            if path in snap.links:
                ops.append(Remove(path))
            continue
        current = snap.read(path)
        if current is None:
            continue
        if st.sha256(current) == record.written or record.kind in (st.OWN, st.PROVIDER_SETTINGS, st.SECRET):
            wanted = record.original if st.sha256(current) == record.written else None
        else:
            wanted = _unedit(path, record.kind, current, settings)
        if wanted == current:
            continue
        ops.append(Remove(path) if wanted is None else WriteFile(path, wanted, record.original_mode))
        restart = restart or record.restarts_kubelet()
    ops.append(Remove(_state_path(settings)))
    # Our directories go last, once the journal in the state directory is gone (the cleanup step).
    created = [p for p, r in previous.records.items() if r.kind == st.DIR]
    cleanup = tuple(RemoveEmptyDir(p) for p in sorted(created, key=lambda p: (-p.count("/"), p)))
    return Plan(
        "uninstall",
        previous.profile,
        previous.unit,
        tuple(ops),
        cleanup,
        restart,
        forbidden_values=(settings.paths.config,),
        embedded_kubelet=previous.unit != "kubelet.service",
    )


def describe(plan: Plan, snap: Snapshot) -> str:
    """What `nodecred host plan` prints: the profile, a unified diff per file, restart yes|no."""
    lines = [f"profile: {plan.profile}", f"unit: {plan.unit}"]
    for op in plan.ops + plan.cleanup:
        if isinstance(op, WriteFile):
            old = (snap.read(op.path) or b"").decode("utf-8", errors="replace").splitlines(keepends=True)
            new = op.data.decode("utf-8", errors="replace").splitlines(keepends=True)
            if op.path.endswith(st.STATE_FILE):
                lines.append(f"write {op.path} (nodecred's record of its changes)")
                continue
            if op.secret:
                lines.append(f"write {op.path} (secret, {len(op.data)} bytes, mode {op.mode:04o}; not shown)")
                continue
            diff = difflib.unified_diff(old, new, f"a{op.path}", f"b{op.path}")
            lines.append("".join(diff).rstrip("\n") or f"mode {op.path} {op.mode:04o}")
        elif isinstance(op, Symlink):
            lines.append(f"link {op.path} -> {op.target}")
        elif isinstance(op, InstallTree):
            lines.append(f"install provider build {op.source} at {op.dest} (sha256 {op.digest[:16]})")
        elif isinstance(op, Remove):
            lines.append(f"remove {op.path}")
        elif isinstance(op, RemoveEmptyDir):
            lines.append(f"remove directory {op.path} (if empty)")
        else:
            lines.append(f"remove tree {op.path}")
    lines.extend(f"note: {note}" for note in plan.notes)
    lines.append(f"restart: {'yes' if plan.restart else 'no'}")
    return "\n".join(lines) + "\n"
