"""`nodecred ...`: the operator's commands. Errors become exit codes here and only here."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from nodecred import __version__
from nodecred.agent import cli as agent_cli
from nodecred.errors import NodecredError, UsageError
from nodecred.host import cli as host_cli
from nodecred.kubelet.explain import explain
from nodecred.kubelet.load import LoadedConfig, LoadError, check, read_path
from nodecred.kubelet.reference import ReferenceError, normalize
from nodecred.kubelet.versions import KubeletVersion, parse_feature_gates

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{self.prog}: {message}")


def _existing(path: str) -> str:
    try:
        os.stat(path)
    except FileNotFoundError:
        raise UsageError(
            f"{path}: no such file or directory; give the path of a credential provider config"
        ) from None
    except PermissionError:
        raise UsageError(
            f"{path}: permission denied; run as root or fix the mode of it or its directory"
        ) from None
    if not os.access(path, os.R_OK):
        raise UsageError(f"{path}: not readable by this user; run as root or fix its mode")
    return path


def _load(args: argparse.Namespace) -> tuple[LoadedConfig, KubeletVersion, dict[str, bool]]:
    version = KubeletVersion.parse(args.kubelet_version) if args.kubelet_version else KubeletVersion.newest()
    gates = parse_feature_gates(args.feature_gates or "", version)
    loaded = read_path(_existing(args.path), version)
    check(loaded, version, gates)
    return loaded, version, gates


def cmd_config_validate(args: argparse.Namespace, out: TextIO) -> int:
    try:
        loaded, version, gates = _load(args)
    except LoadError as err:
        print(f"invalid: {err}", file=out)
        return EXIT_FAIL
    if gates.get("KubeletCredentialProviders") is False:
        print(
            f"warning: kubelet {version} ignores the credential provider flags unless "
            "--feature-gates=KubeletCredentialProviders=true",
            file=out,
        )
    count = len(loaded.config.providers)
    print(f"valid: {count} provider{'s' if count != 1 else ''}, hash {loaded.hash}", file=out)
    return EXIT_OK


def cmd_config_explain(args: argparse.Namespace, out: TextIO) -> int:
    try:
        loaded, _, _ = _load(args)
    except LoadError as err:
        raise UsageError(f"the kubelet would not start with {args.path}: {err}") from None
    try:
        image = normalize(args.image)
    except ReferenceError as err:
        raise UsageError(f"IMAGE {args.image!r}: {err}") from None
    if image != args.image:
        print(f"image: {args.image} -> {image} (as the kubelet normalises it)", file=out)
    verdicts = explain(loaded.config, image)
    for v in verdicts:
        if v.runs:
            print(f"runs     {v.provider}  (matchImages {v.matched_by!r})", file=out)
        else:
            print(f"skipped  {v.provider}", file=out)
            for pattern, reason in v.misses:
                print(f"           {pattern!r}: {reason}", file=out)
    running = sum(v.runs for v in verdicts)
    print(f"{running} of {len(verdicts)} providers would run for {image}", file=out)
    return EXIT_OK if running else EXIT_FAIL


def cmd_version(args: argparse.Namespace, out: TextIO) -> int:
    print(f"nodecred {__version__}", file=out)
    return EXIT_OK


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", metavar="PATH", help="a config file, or a directory (kubelet >= 1.34)")
    parser.add_argument("--kubelet-version", metavar="X.Y", help="judge as this kubelet (default: newest)")
    parser.add_argument("--feature-gates", metavar="K=V,...", help="kubelet feature gates to assume")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nodecred", description="Secretless private-registry pulls for every node.")
    parser.add_argument("--version", action="version", version=f"nodecred {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    config = commands.add_parser("config", help="check CredentialProviderConfig files as the kubelet does")
    config_commands = config.add_subparsers(dest="config_command", required=True, parser_class=_Parser)
    validate = config_commands.add_parser("validate", help="exit 0 valid, 1 invalid, 2 usage")
    _config_args(validate)
    validate.set_defaults(func=cmd_config_validate)
    explain_cmd = config_commands.add_parser("explain", help="which providers the kubelet runs for IMAGE")
    _config_args(explain_cmd)
    explain_cmd.add_argument("image", metavar="IMAGE")
    explain_cmd.set_defaults(func=cmd_config_explain)
    host_cli.add_commands(commands)
    agent_cli.add_commands(commands)
    version = commands.add_parser("version", help="print the version")
    version.set_defaults(func=cmd_version)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(argv)
        func: Callable[[argparse.Namespace, TextIO], int] = args.func
        return func(args, out)
    except UsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except NodecredError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAIL


if __name__ == "__main__":
    sys.exit(main())
