"""`nodecred host plan|apply|uninstall`: the host installer by hand (the agent runs the same)."""

from __future__ import annotations

import argparse
import os
from typing import Any, TextIO

from nodecred.errors import ConfigError, UsageError
from nodecred.host import settings as host_settings
from nodecred.host.install import EXIT, UNSUPPORTED, HostRun, Options, binary_digest
from nodecred.host.plan import Binary, PlanError, describe
from nodecred.host.profiles.base import Unsupported
from nodecred.host.snapshot import SnapshotError
from nodecred.host.state import StateError

# Where the container image keeps the frozen provider build (image/Dockerfile).
DEFAULT_BINARY = "/usr/lib/nodecred/provider"


def _read(flag: str, path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as err:
        raise UsageError(f"{flag} {path}: {err.strerror}") from None


def read_settings_file(path: str | None, provider_path: str | None = None) -> bytes | None:
    """The --settings file's bytes (None when neither file is given), with the --provider-settings
    file (the chart's second ConfigMap) as its `provider:`; a usage error names the flag."""
    data = _read("--settings", path) if path else None
    if not provider_path:
        return data
    try:
        return host_settings.with_provider(data, _read("--provider-settings", provider_path), provider_path)
    except ConfigError as err:
        raise UsageError(str(err)) from None


def _settings(args: argparse.Namespace) -> host_settings.HostSettings:
    data = read_settings_file(args.settings, args.provider_settings)
    if data is None:
        return host_settings.HostSettings()
    try:
        return host_settings.load(data, args.settings)
    except ConfigError as err:
        raise UsageError(str(err)) from None


def binary_from(given: str) -> Binary:
    """The --binary build and its digest, or a usage error naming the flag."""
    path = os.path.abspath(given)
    if not os.path.exists(path):
        raise UsageError(f"--binary {given}: no such file or directory; give the frozen provider build")
    try:
        return Binary(path, binary_digest(path))
    except PlanError as err:
        raise UsageError(str(err)) from None


def _run(args: argparse.Namespace) -> HostRun:
    if not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory; give the host's root (/ or /host)")
    options = Options(
        root=args.root, restart_mode=args.restart_mode, proc=args.proc, secrets_dir=args.secrets or ""
    )
    return HostRun(_settings(args), options)


def cmd_plan(args: argparse.Namespace, out: TextIO) -> int:
    run = _run(args)
    action = "uninstall" if args.uninstall else "install"
    try:
        planned, snap = run.plan(action, None if args.uninstall else binary_from(args.binary))
    except (SnapshotError, PlanError, StateError) as err:
        print(f"Failed: {err}", file=out)
        return 1
    if isinstance(planned, Unsupported):
        print(f"{UNSUPPORTED}: {planned.reason}", file=out)
        return EXIT[UNSUPPORTED]
    print(describe(planned, snap), end="", file=out)
    return 0


def _converge(args: argparse.Namespace, out: TextIO, action: str) -> int:
    run = _run(args)
    outcome = run.converge(action, binary_from(args.binary) if action == "install" else None)
    profile = f" (profile {outcome.profile})" if outcome.profile else ""
    print(f"{outcome.state}: {outcome.message}{profile}", file=out)
    return outcome.exit_code


def cmd_apply(args: argparse.Namespace, out: TextIO) -> int:
    return _converge(args, out, "install")


def cmd_uninstall(args: argparse.Namespace, out: TextIO) -> int:
    return _converge(args, out, "uninstall")


def add_commands(commands: Any) -> None:  # argparse._SubParsersAction of the caller's parser class
    host = commands.add_parser(
        "host", help="install the provider on this host (exit 0, 1 failed, 3 unsupported)"
    )
    sub = host.add_subparsers(dest="host_command", required=True, parser_class=type(host))
    for name, func, text in (
        ("plan", cmd_plan, "print the changes: profile, a diff per file, restart yes|no"),
        ("apply", cmd_apply, "install or update, restart the kubelet and verify it (or roll back)"),
        ("uninstall", cmd_uninstall, "remove what nodecred added, restart and verify"),
    ):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument(
            "--root", default="/", help="the host's root directory (default /; /host in the pod)"
        )
        cmd.add_argument("--settings", metavar="FILE", help="agent settings (default: DESIGN.md's defaults)")
        cmd.add_argument(
            "--provider-settings", metavar="FILE", help="ProviderSettings to use as the settings' provider:"
        )
        cmd.add_argument("--binary", metavar="PATH", default=DEFAULT_BINARY, help="the frozen provider build")
        cmd.add_argument("--restart-mode", choices=("systemd", "none"), default="systemd")
        cmd.add_argument(
            "--secrets", metavar="DIR", help="a directory whose files become paths.secrets/<name> (0600)"
        )
        cmd.add_argument("--proc", default="/proc", help=argparse.SUPPRESS)
        if name == "plan":
            cmd.add_argument("--uninstall", action="store_true", help="plan the uninstall instead")
        cmd.set_defaults(func=func)
