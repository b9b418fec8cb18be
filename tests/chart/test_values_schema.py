"""values.schema.json refuses bad values at `helm install` time, naming the value."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.chart.test_chart import CHART, helm

# (values, the path helm's message must name, a word of the reason)
BAD: list[tuple[str, str, str]] = [
    ("restart: {mode: reboot}", "/restart/mode", "systemd"),
    ("restart: {timeoutSeconds: 5}", "/restart/timeoutSeconds", "10"),
    ("restart: {timeoutSeconds: '90s'}", "/restart/timeoutSeconds", "integer"),
    ("restart: {maxConcurrent: '0'}", "/restart/maxConcurrent", "match"),
    ("restart: {maxConcurrent: '150%'}", "/restart/maxConcurrent", "match"),
    ("restart: {allowControlPlaneRestart: 'yes'}", "/restart/allowControlPlaneRestart", "boolean"),
    ("restart: {leaseDurationSeconds: 1}", "/restart/leaseDurationSeconds", "15"),
    ("restart: {reboot: true}", "/restart", "reboot"),
    ("agent: {driftInterval: 5 minutes}", "/agent/driftInterval", "match"),
    ("agent: {probeInterval: 30}", "/agent/probeInterval", "string"),
    ("agent: {annotationPrefix: nodecred.io}", "/agent/annotationPrefix", "match"),
    ("agent: {healthPort: 70000}", "/agent/healthPort", "65,535"),
    ("image: {pullPolicy: Sometimes}", "/image/pullPolicy", "Always"),
    ("image: {digest: 'sha256:xyz'}", "/image/digest", "match"),
    ("hostPaths: {config: etc/nodecred/config.yaml}", "/hostPaths/config", "match"),
    ("hostPaths: {binDir: /opt/my bin}", "/hostPaths/binDir", "match"),
    ("provider: {timeout: soon}", "/provider/timeout", "match"),
    ("provider: {matchImages: ['https://registry.example.com']}", "/provider/matchImages/0", "match"),
    ("provider: {registries: [{match: ['*.azurecr.io']}]}", "/provider/registries/0", "oneOf"),
    (
        "provider: {registries: [{match: ['*.azurecr.io'], acr: {}, gcp: {}}]}",
        "/provider/registries/0",
        "oneOf",
    ),
    ("provider: {registries: [{ecr: {}}]}", "/provider/registries/0", "match"),
    ("provider: {registries: [{match: ['x.io'], quay: {}}]}", "/provider/registries/0", "quay"),
    (
        "provider: {registries: [{match: ['x.io'], static: {username: u}}]}",
        "/provider/registries/0/static",
        "",
    ),
    (
        "provider: {registries: [{match: ['x.io'], static: {username: u, passwordFile: p, configFile: /c}}]}",
        "/provider/registries/0/static",
        "",
    ),
    (
        "provider: {registries: [{match: ['x.io'], ocir: {auth: api_key}}]}",
        "/provider/registries/0/ocir/auth",
        "instance_principal",
    ),
    (
        "provider: {registries: [{match: ['x.io'], ocir: {auth: user_principal}}]}",
        "/provider/registries/0/ocir",
        "configFile",
    ),
    ("provider: {registries: [{match: ['x.io'], helper: {}}]}", "/provider/registries/0/helper", "name"),
    (
        "provider: {registries: [{match: ['x.io'], helper: {name: 'ecr login'}}]}",
        "/provider/registries/0/helper/name",
        "match",
    ),
    (
        "provider: {registries: [{match: ['x.io'], ecr: {roleArn: my-role}}]}",
        "/provider/registries/0/ecr/roleArn",
        "match",
    ),
    (
        "provider: {registries: [{match: ['x.io'], acr: {clientId: 'not-a-guid'}}]}",
        "/provider/registries/0/acr/clientId",
        "match",
    ),
    (
        "provider: {registries: [{match: ['x.io'], gcp: {}, cacheDuration: 1 hour}]}",
        "/provider/registries/0/cacheDuration",
        "match",
    ),
    ("secrets: {data: {'.hidden': x}}", "", "'.hidden' does not match"),
    ("secrets: {data: {harbor: 3}}", "/secrets/data/harbor", "string"),
    ("updateStrategy: {type: Recreate}", "/updateStrategy/type", "RollingUpdate"),
    ("terminationGracePeriodSeconds: 5", "/terminationGracePeriodSeconds", "30"),
    ("uninstall: {timeoutSeconds: 1}", "/uninstall/timeoutSeconds", "30"),
    ("nodeSelector: {pool: 3}", "/nodeSelector/pool", "string"),
    ("registries: []", "", "registries"),
]


def test_there_are_at_least_twenty_cases() -> None:
    assert len(BAD) >= 20


@pytest.mark.parametrize(("values", "where", "why"), BAD, ids=[b[0][:60] for b in BAD])
def test_bad_value_is_refused_naming_it(values: str, where: str, why: str, tmp_path: Path) -> None:
    file = tmp_path / "values.yaml"
    file.write_text(values + "\n")
    assert yaml.safe_load(values) is not None
    done = helm("template", "nodecred", str(CHART), "-f", str(file), check=False)
    assert done.returncode == 1, done.stdout[:300]
    assert "values don't meet the specifications of the schema" in done.stderr
    assert f"at '{where}'" in done.stderr, done.stderr
    assert why in done.stderr, done.stderr
