"""`make demo`: the whole flow on one simulated node, step by step.

A kubeadm-style node (debootstrapped Debian booted with systemd-nspawn, a kubelet stand-in that
execs its credential providers at start and uses the answer), a private registry with htpasswd
auth, the Kubernetes API (kmock's emulator, with the real kubectl), the chart's values rendered by
the real helm, and `nodecred agent` run as the DaemonSet runs it. Everything runs on this machine
and is removed at the end.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import yaml  # noqa: E402
from tests.agent.emulator import Cluster, running  # noqa: E402
from tests.host.fixtures import secret_volume  # noqa: E402
from tests.host.node.harness import FROZEN, NODECRED, Node, booted, build_node, healthz  # noqa: E402
from tests.registry import get_v2, running_registry  # noqa: E402

TOOLS = REPO / ".cache" / "tools"
NS = "kube-system"
ENV = {"NODE_NAME": "node-1", "POD_NAMESPACE": NS}  # the downward API's, in the pod


def step(title: str) -> None:
    print(f"\n\033[1m== {title}\033[0m", flush=True)


def say(text: str) -> None:
    print(text.rstrip(), flush=True)


def show(argv: list[str], env: dict[str, str] | None = None, shown: str = "") -> str:
    """Run a command here, print it as typed and what it printed."""
    say("$ " + (shown or " ".join(argv)))
    done = subprocess.run(
        argv, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=False
    )
    say(done.stdout + done.stderr)
    return done.stdout


def in_pod(node: Node, *args: str) -> str:
    """nodecred on the node as the DaemonSet's container runs it (hostPID, the host at /host)."""
    say("$ nodecred " + " ".join(args))
    code, out = node.pod(*args, env=ENV)
    say(out + f"(exit {code})")
    return out


def render_chart(values: Path, work: Path) -> tuple[Path, Path, Path, list[Any]]:
    """helm template with VALUES; the settings files and the Secret volume the pod would mount."""
    say(f"$ helm template nodecred ./chart -n {NS} -f values.yaml")
    rendered = subprocess.run(
        [str(TOOLS / "helm"), "template", "nodecred", str(REPO / "chart"), "-n", NS, "-f", str(values)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    docs = [d for d in yaml.safe_load_all(rendered.stdout) if d]
    say("  " + ", ".join(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
    settings = work / "settings"
    settings.mkdir()
    for doc in docs:
        if doc["kind"] == "ConfigMap" and doc["metadata"]["name"] in ("nodecred-agent", "nodecred-provider"):
            for key, text in doc["data"].items():
                (settings / key).write_text(text)
    secret = next(d for d in docs if d["kind"] == "Secret")
    volume = secret_volume(work / "secret", {k: base64.b64decode(v) for k, v in secret["data"].items()})
    daemonset = next(d for d in docs if d["kind"] == "DaemonSet")
    return settings / "agent.yaml", settings / "provider.yaml", volume, daemonset["spec"]["template"]["spec"]


def kubeconfig(work: Path, url: str) -> Path:
    path = work / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "demo", "cluster": {"server": url}}],
                "users": [{"name": "demo", "user": {}}],
                "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": "demo"}}],
                "current-context": "demo",
            }
        )
    )
    return path


def kubelet_line(node: Node) -> None:
    pid, state = node.kubelet()
    flags = [a for a in node.cmdline(pid) if a.startswith("--image-credential-provider")]
    say(f"kubelet.service: {state}, PID {pid}; credential provider flags: {flags or 'none'}")


def main() -> int:
    started = time.monotonic()
    work = Path(tempfile.mkdtemp(prefix="nodecred-demo-"))
    try:
        with ExitStack() as stack:
            run(stack, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    step(f"Done in {time.monotonic() - started:.0f} s; the node, the registry and the API are gone")
    return 0


def run(stack: ExitStack, work: Path) -> None:
    assert (FROZEN / "nodecred-provider").exists(), "run `make provider` first (make demo does)"

    step("1. A kubeadm-style node: debootstrapped Debian booted with systemd-nspawn (about a minute)")
    root = work / "node"
    build_node(root)
    node = stack.enter_context(booted(root))
    original = (root / "etc/default/kubelet").read_bytes()
    kubelet_line(node)
    say(f"GET http://127.0.0.1:10248/healthz: {'ok' if healthz() else 'down'}")

    step("2. A private registry on this machine (Debian's docker-registry, htpasswd auth)")
    password = secrets.token_urlsafe(18)  # generated; never printed, logged or annotated
    (work / "registry").mkdir()
    registry = stack.enter_context(running_registry(work / "registry", "demo", password))
    say(f"GET http://{registry}/v2/ without credentials: {get_v2(registry)}")
    image = f"{registry}/demo/app:1.0"
    (root / "etc/standin").mkdir(exist_ok=True)
    (root / "etc/standin/image").write_text(image + "\n")  # the image the stand-in kubelet pulls at start

    step("3. The operator's values, and what the chart renders from them")
    values: dict[str, Any] = {
        "provider": {
            "registries": [
                {
                    "match": [registry],
                    "static": {"username": "demo", "passwordFile": "/etc/nodecred/secrets/demo-registry"},
                    "probeImage": f"{registry}/demo/probe:1",
                }
            ]
        },
        "secrets": {"data": {"demo-registry": password}},
        "restart": {"timeoutSeconds": 60},
    }
    (work / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
    shown = yaml.safe_dump({**values, "secrets": {"data": {"demo-registry": "<generated>"}}}, sort_keys=False)
    say("values.yaml:\n" + "\n".join("  " + line for line in shown.splitlines()))
    agent_settings, provider_settings, secret, pod = render_chart(work / "values.yaml", work)
    say(f"provider.yaml (ConfigMap nodecred-provider):\n{provider_settings.read_text()}")
    say("DaemonSet container args: " + " ".join(pod["containers"][0]["args"]))

    step("4. The Kubernetes API (kmock's emulator on 127.0.0.1) and the real kubectl")
    cluster: Cluster = stack.enter_context(running())
    cluster.add_node("node-1", {"kubernetes.io/os": "linux", "kubernetes.io/hostname": "node-1"})
    config = {"KUBECONFIG": str(kubeconfig(work, cluster.url))}
    kubectl = str(TOOLS / "kubectl")
    show(
        [kubectl, "get", "nodes", "-L", "nodecred.io/ready"], config, "kubectl get nodes -L nodecred.io/ready"
    )

    common = ["--settings", str(agent_settings), "--provider-settings", str(provider_settings)]
    common += ["--secrets", str(secret), "--binary", str(FROZEN), "--root", "/host"]
    step("5. What nodecred will change on this node (the plan: a diff per file; the secret is never shown)")
    in_pod(node, "host", "plan", *common)

    step("6. The agent, as the DaemonSet runs it: write, take a restart slot, restart, verify, report")
    old_pid, _ = node.kubelet()
    in_pod(node, "agent", "--once", *common, f"--server={cluster.url}")
    kubelet_line(node)
    say(f"(the kubelet was PID {old_pid} before)")
    say("The kubelet's journal since the restart (it execs the provider, the runtime uses the answer):")
    journal = node.journal().splitlines()
    last_start = max(i for i, line in enumerate(journal) if line.startswith("kubelet stand-in started"))
    say("\n".join("  " + line[:200] for line in journal[last_start:]))
    assert password not in node.journal()

    step("7. The Node, as kubectl shows it")
    show([kubectl, "get", "node", "node-1", "-o", "yaml"], config, "kubectl get node node-1 -o yaml")
    show(
        [kubectl, "get", "nodes", "-L", "nodecred.io/ready"], config, "kubectl get nodes -L nodecred.io/ready"
    )
    show(
        [kubectl, "get", "events", "-n", "default", "-o",
         "custom-columns=TYPE:.type,REASON:.reason,OBJECT:.involvedObject.name,MESSAGE:.message"],
        config, "kubectl get events -n default -o custom-columns=TYPE:.type,REASON:.reason,...",
    )  # fmt: skip
    show([NODECRED, "status"], config, "nodecred status")

    step("8. Drift: a `kubeadm upgrade` rewrites /etc/default/kubelet; the next pass puts the flags back")
    (root / "etc/default/kubelet").write_bytes(original)
    say(f"/etc/default/kubelet: {original.decode().strip()}")
    in_pod(node, "agent", "--once", *common, f"--server={cluster.url}")
    kubelet_line(node)

    step("9. `helm uninstall`: its pre-delete hook sets uninstall mode and waits; the agent undoes its work")
    hook = subprocess.Popen(
        [NODECRED, "release", "uninstall", "-n", NS, "--release", "nodecred", "--timeout", "120s",
         "--selector", "kubernetes.io/os=linux", "--interval", "0.5", "--server", cluster.url],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    say(f"$ nodecred release uninstall -n {NS} --release nodecred --timeout 120s   (the hook Job)")
    time.sleep(1.5)
    in_pod(node, "agent", "--once", *common, f"--server={cluster.url}")
    out, _ = hook.communicate(timeout=150)
    say(out + f"(hook exit {hook.returncode})")
    same = (root / "etc/default/kubelet").read_bytes() == original
    gone = not (root / "etc/nodecred/credential-provider-config.yaml").exists()
    say(f"/etc/default/kubelet as before: {same}; nodecred's config removed: {gone}")
    kubelet_line(node)


if __name__ == "__main__":
    sys.exit(main())
