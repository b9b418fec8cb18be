"""`nodecred agent` (the DaemonSet's process) and `nodecred status` (the fleet, from Node annotations)."""

from __future__ import annotations

import argparse
import calendar
import logging
import os
import signal
import sys
import time
from typing import TYPE_CHECKING, Any, TextIO

from nodecred.agent import config as agent_config
from nodecred.agent.report import STATES
from nodecred.errors import ConfigError, UsageError
from nodecred.host.cli import DEFAULT_BINARY, binary_from, read_settings_file
from nodecred.host.install import EXIT, HostRun, Options
from nodecred.kubelet import goduration

if TYPE_CHECKING:
    from nodecred.agent.kube import NodeView

log = logging.getLogger("nodecred.agent")


def cmd_agent(args: argparse.Namespace, out: TextIO) -> int:
    # Imported here: the kubernetes client costs ~0.3 s, which `nodecred host` and `config` must not pay.
    from nodecred.agent.health import serve  # noqa: PLC0415
    from nodecred.agent.kube import Kube, KubeError, api_client  # noqa: PLC0415
    from nodecred.agent.probe import host_runner  # noqa: PLC0415
    from nodecred.agent.reconcile import Agent  # noqa: PLC0415

    data = read_settings_file(args.settings, args.provider_settings)
    try:
        settings, agent_settings = agent_config.load(data, dict(os.environ), args.settings or "defaults")
    except ConfigError as err:
        raise UsageError(str(err)) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s", stream=sys.stderr)
    binary = binary_from(args.binary)
    options = Options(root=args.root, restart_mode=args.restart_mode, secrets_dir=args.secrets or "")
    kube = Kube(api_client(args.kubeconfig, args.server))
    agent = Agent(
        agent_settings,
        kube,
        HostRun(settings, options),
        binary,
        prober=host_runner(args.root, nsenter=args.restart_mode == "systemd"),
    )
    if args.once:
        try:
            state = agent.reconcile_once()
        except KubeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        print(state, file=out)
        return EXIT.get(state, 1)
    server = serve(agent.metrics, agent_settings.health_port)

    def terminate(*_: Any) -> None:
        # The pass in progress finishes (or rolls back) its step; the grace period covers it.
        agent.shutdown()

    signal.signal(signal.SIGTERM, terminate)
    signal.signal(signal.SIGINT, terminate)
    try:
        agent.run()
    finally:
        server.shutdown()
    return 0


def _age(stamp: str, now: float) -> str:
    try:
        seconds = now - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit}"
    return f"{max(0, int(seconds))}s"


def summary(nodes: list[NodeView], prefix: str) -> tuple[str, dict[str, int]]:
    counts: dict[str, int] = {}
    for node in nodes:
        state = node.annotations.get(prefix + "state", "Pending")
        counts[state] = counts.get(state, 0) + 1
    installed = counts.get("Installed", 0)
    rest = ", ".join(f"{counts[s]} {s}" for s in STATES if s != "Installed" and counts.get(s))
    line = f"{installed}/{len(nodes)} Installed" + (f", {rest}" if rest else "")
    return line, counts


def table(nodes: list[NodeView], prefix: str, now: float) -> str:
    rows = [("NODE", "STATE", "PROFILE", "VERSION", "PROBE", "AGE")]
    for node in sorted(nodes, key=lambda n: n.name):
        a = node.annotations
        rows.append(
            (
                node.name,
                a.get(prefix + "state", "Pending"),
                a.get(prefix + "profile", "-"),
                a.get(prefix + "provider-version", "-"),
                a.get(prefix + "probe", "-")[:60],
                _age(a.get(prefix + "last-transition", ""), now),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _bar(counts: dict[str, int], total: int, width: int = 40) -> str:
    done = counts.get("Installed", 0) + counts.get("Unsupported", 0) + counts.get("Uninstalled", 0)
    filled = int(width * done / total) if total else width
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total}"


def cmd_status(args: argparse.Namespace, out: TextIO) -> int:
    from nodecred.agent.kube import Kube, KubeError, api_client  # noqa: PLC0415 - see cmd_agent

    kube = Kube(api_client(args.kubeconfig, args.server))
    prefix = args.prefix
    while True:
        try:
            nodes = kube.list_nodes(args.selector or "")
        except KubeError as err:
            print(f"error: {err}", file=sys.stderr)
            return 1
        line, counts = summary(nodes, prefix)
        if args.watch:
            print(f"\r{_bar(counts, len(nodes))}  {line}", end="", file=out, flush=True)
            settled = all(
                n.annotations.get(prefix + "state")
                in ("Installed", "Unsupported", "Uninstalled", "Failed", "RolledBack")
                for n in nodes
            )
            if settled:
                print(file=out)
                break
            time.sleep(args.interval)
            continue
        print(table(nodes, prefix, time.time()), file=out)
        print(line, file=out)
        break
    bad = counts.get("Failed", 0) + counts.get("RolledBack", 0)
    if args.watch:
        print(table(nodes, prefix, time.time()), file=out)
    if args.require_installed and (not nodes or counts.get("Installed", 0) != len(nodes)):
        print(f"not every node is Installed: {line}", file=sys.stderr)
        return 1
    return 1 if bad else 0


def cmd_release_uninstall(args: argparse.Namespace, out: TextIO) -> int:
    from nodecred.agent import uninstall_hook  # noqa: PLC0415 - see cmd_agent
    from nodecred.agent.kube import Kube, KubeError, api_client  # noqa: PLC0415

    try:
        timeout = goduration.parse(args.timeout) / goduration.SECOND
    except goduration.DurationError:
        timeout = 0
    if timeout <= 0:
        raise UsageError(f"--timeout {args.timeout}: give a positive duration such as 10m")
    namespace = args.namespace or os.environ.get("POD_NAMESPACE", "")
    if not namespace:
        raise UsageError("--namespace: give the release namespace (or POD_NAMESPACE)")
    kube = Kube(api_client(args.kubeconfig, args.server))
    try:
        return uninstall_hook.run(
            kube,
            namespace,
            f"{args.release}-mode",
            args.prefix,
            args.selector or "",
            timeout,
            out,
            interval=args.interval,
        )
    except KubeError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def add_commands(commands: Any) -> None:  # argparse._SubParsersAction of the caller's parser class
    agent = commands.add_parser("agent", help="the DaemonSet's reconciler for this node (NODE_NAME)")
    agent.add_argument("--settings", metavar="FILE", help="the mounted AgentSettings file")
    agent.add_argument(
        "--provider-settings", metavar="FILE", help="the mounted ProviderSettings (the settings' provider:)"
    )
    agent.add_argument("--root", default="/host", help="the host's root (default /host)")
    agent.add_argument("--binary", default=DEFAULT_BINARY, help="the frozen provider build to install")
    agent.add_argument("--restart-mode", choices=("systemd", "none"), default="systemd")
    agent.add_argument("--secrets", metavar="DIR", help="the mounted Secret: each key -> paths.secrets/<key>")
    agent.add_argument("--kubeconfig", help="outside a pod: the kubeconfig to use")
    agent.add_argument("--server", help=argparse.SUPPRESS)
    agent.add_argument("--once", action="store_true", help="one pass, print the state, exit 0/1/3")
    agent.set_defaults(func=cmd_agent)
    status = commands.add_parser(
        "status", help="the fleet: a table of nodes and a summary; exit 1 if any failed"
    )
    status.add_argument("--watch", action="store_true", help="a live progress bar until every node settles")
    status.add_argument("--selector", "-l", help="a label selector, as kubectl's -l")
    status.add_argument("--kubeconfig", help="the kubeconfig (default: as kubectl finds it)")
    status.add_argument("--prefix", default="nodecred.io/", help="the agents' annotation prefix")
    status.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    status.add_argument("--server", help=argparse.SUPPRESS)
    status.add_argument(
        "--require-installed", action="store_true", help="exit 1 unless every node is Installed (helm test)"
    )
    status.set_defaults(func=cmd_status)
    release = commands.add_parser("release", help="release-wide steps the chart's hooks run")
    steps = release.add_subparsers(dest="release_command", required=True, parser_class=type(release))
    hook = steps.add_parser(
        "uninstall", help="set uninstall mode and wait until every node reports Uninstalled (pre-delete hook)"
    )
    hook.add_argument(
        "--release", default="nodecred", help="the Helm release name (ConfigMap <release>-mode)"
    )
    hook.add_argument("--namespace", "-n", help="the release namespace (default: POD_NAMESPACE)")
    hook.add_argument("--selector", "-l", help="only the nodes the DaemonSet runs on (its nodeSelector)")
    hook.add_argument("--timeout", default="10m", help="how long to wait (a duration; default 10m)")
    hook.add_argument("--prefix", default="nodecred.io/", help="the agents' annotation prefix")
    hook.add_argument("--kubeconfig", help="outside a pod: the kubeconfig to use")
    hook.add_argument("--interval", type=float, default=2.0, help=argparse.SUPPRESS)
    hook.add_argument("--server", help=argparse.SUPPRESS)
    hook.set_defaults(func=cmd_release_uninstall)
