"""`nodecred release uninstall`: the chart's pre-delete hook.

It flips the release's mode ConfigMap to `uninstall`, so every agent gives its host back (through
a restart slot), then waits until every node says so. Helm deletes the DaemonSet only after this
Job succeeds; on a timeout the Job fails with the nodes that did not finish, and the release stays.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from nodecred.agent.kube import Kube, KubeError, NodeView

# A node is done when nodecred changed nothing on it (no state annotation: the agent never ran
# there; Unsupported: it refused the host) or when its agent reported the uninstall.
DONE = ("Uninstalled", "Unsupported")


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    waiting: tuple[str, ...]  # node names, sorted

    def line(self) -> str:
        head = f"{self.done}/{self.total} nodes uninstalled"
        if not self.waiting:
            return head
        names = ", ".join(self.waiting[:10]) + (
            f" and {len(self.waiting) - 10} more" if len(self.waiting) > 10 else ""
        )
        return f"{head}; waiting for {names}"


def progress(nodes: list[NodeView], prefix: str) -> Progress:
    waiting = sorted(
        n.name
        for n in nodes
        if (state := n.annotations.get(prefix + "state")) is not None and state not in DONE
    )
    return Progress(len(nodes) - len(waiting), len(nodes), tuple(waiting))


def run(  # noqa: PLR0917 - the hook's flags, one to one
    kube: Kube,
    namespace: str,
    configmap: str,
    prefix: str,
    selector: str,
    timeout: float,
    out: TextIO,
    interval: float = 2.0,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    kube.set_configmap_data(namespace, configmap, {"mode": "uninstall"})
    print(
        f"{namespace}/{configmap}: mode uninstall; every agent now removes nodecred from its node", file=out
    )
    deadline = clock() + timeout
    last = ""
    while True:
        try:
            now = progress(kube.list_nodes(selector), prefix)
        except KubeError as err:  # an API blip: keep waiting until the deadline
            line = f"cannot list nodes yet ({err})"
        else:
            line = now.line()
            if not now.waiting:
                print(line, file=out, flush=True)
                return 0
        if line != last:
            print(line, file=out, flush=True)
            last = line
        if clock() >= deadline:
            print(
                f"timed out after {int(timeout)}s: {last}. Look at those nodes' agents "
                f"(kubectl -n {namespace} logs) and their {prefix}message annotation; to remove the "
                "release anyway run `nodecred host uninstall --root /` on each of them, then "
                "`helm uninstall --no-hooks`.",
                file=out,
                flush=True,
            )
            return 1
        time.sleep(interval)
