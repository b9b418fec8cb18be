"""The ValidatingAdmissionPolicy's CEL, evaluated (cel-python) on admission requests as the API server
builds them: an agent may change only its own Node, and only keys under the prefix.

cel-python implements the CEL language, not the API server's extension libraries; the policy uses only
standard macros and string functions, so what passes here is what the API server evaluates.
"""

from __future__ import annotations

import copy
from typing import Any

import celpy
import pytest

from tests.chart.test_chart import one, render

SA = "system:serviceaccount:kube-system:nodecred"
NODE: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Node",
    "metadata": {
        "name": "node-1",
        "annotations": {"node.alpha.kubernetes.io/ttl": "0", "nodecred.io/state": "Pending"},
        "labels": {"kubernetes.io/hostname": "node-1"},
    },
    "spec": {"podCIDR": "10.0.1.0/24"},
}


def _evaluate(
    policy: dict[str, Any], old: dict[str, Any], new: dict[str, Any], user: dict[str, Any]
) -> list[str]:
    """The messages of the validations that fail (empty: admitted); [] too when no match condition holds."""
    env = celpy.Environment()
    spec = policy["spec"]
    activation: dict[str, Any] = {
        "object": celpy.json_to_cel(new),
        "oldObject": celpy.json_to_cel(old),
        "request": celpy.json_to_cel({"userInfo": user, "operation": "UPDATE"}),
    }
    for condition in spec["matchConditions"]:
        if not env.program(env.compile(condition["expression"])).evaluate(activation):
            return []
    variables: dict[str, Any] = {}
    for variable in spec["variables"]:
        activation["variables"] = variables_cel(variables)  # a variable may use the ones before it
        variables[variable["name"]] = env.program(env.compile(variable["expression"])).evaluate(activation)
    activation["variables"] = variables_cel(variables)
    failed = []
    for check in spec["validations"]:
        if not env.program(env.compile(check["expression"])).evaluate(activation):
            if "messageExpression" in check:
                failed.append(str(env.program(env.compile(check["messageExpression"])).evaluate(activation)))
            else:
                failed.append(check["message"])
    return failed


def variables_cel(values: dict[str, Any]) -> Any:
    return celpy.celtypes.MapType({celpy.celtypes.StringType(k): v for k, v in values.items()})


@pytest.fixture(scope="module")
def policy() -> dict[str, Any]:
    return one(render(), "ValidatingAdmissionPolicy")


def agent_on(node: str) -> dict[str, Any]:
    return {"username": SA, "extra": {"authentication.kubernetes.io/node-name": [node]}}


def test_the_agent_may_set_its_keys_on_its_own_node(policy: dict[str, Any]) -> None:
    new = copy.deepcopy(NODE)
    new["metadata"]["annotations"]["nodecred.io/state"] = "Installed"
    new["metadata"]["annotations"]["nodecred.io/message"] = "ok"
    new["metadata"]["labels"]["nodecred.io/ready"] = "true"
    assert _evaluate(policy, NODE, new, agent_on("node-1")) == []


def test_another_node_is_refused(policy: dict[str, Any]) -> None:
    new = copy.deepcopy(NODE)
    new["metadata"]["annotations"]["nodecred.io/state"] = "Installed"
    assert _evaluate(policy, NODE, new, agent_on("node-2")) == [
        "a nodecred agent may change only the Node its pod runs on"
    ]
    assert _evaluate(policy, NODE, new, {"username": SA}) == [  # a token without node binding
        "a nodecred agent may change only the Node its pod runs on"
    ]


@pytest.mark.parametrize(
    ("section", "edit", "message"),
    [
        ("annotations", {"node.alpha.kubernetes.io/ttl": "30"}, "annotations"),
        ("annotations", {"other.io/x": "1"}, "annotations"),
        ("annotations", {"node.alpha.kubernetes.io/ttl": None}, "annotations"),
        ("labels", {"node-role.kubernetes.io/control-plane": ""}, "labels"),
        ("labels", {"kubernetes.io/hostname": None}, "labels"),
    ],
)
def test_keys_outside_the_prefix_are_refused(
    policy: dict[str, Any], section: str, edit: dict[str, Any], message: str
) -> None:
    new = copy.deepcopy(NODE)
    for key, value in edit.items():
        if value is None:
            del new["metadata"][section][key]
        else:
            new["metadata"][section][key] = value
    assert _evaluate(policy, NODE, new, agent_on("node-1")) == [
        f"a nodecred agent may change only {message} under nodecred.io/"
    ]


def test_spec_changes_are_refused(policy: dict[str, Any]) -> None:
    new = copy.deepcopy(NODE)
    new["spec"]["unschedulable"] = True
    assert _evaluate(policy, NODE, new, agent_on("node-1")) == [
        "a nodecred agent may not change a Node's spec"
    ]


def test_other_users_are_not_matched(policy: dict[str, Any]) -> None:
    new = copy.deepcopy(NODE)
    new["spec"]["unschedulable"] = True
    assert _evaluate(policy, NODE, new, {"username": "kubernetes-admin"}) == []


def test_a_custom_prefix_is_the_one_allowed() -> None:
    policy = one(
        render(sets={"agent.annotationPrefix": "registry.example.com/"}), "ValidatingAdmissionPolicy"
    )
    new = copy.deepcopy(NODE)
    new["metadata"]["annotations"]["registry.example.com/state"] = "Installed"
    assert _evaluate(policy, NODE, new, agent_on("node-1")) == []
    new["metadata"]["annotations"]["nodecred.io/state"] = "Installed"
    assert _evaluate(policy, NODE, new, agent_on("node-1")) == [
        "a nodecred agent may change only annotations under registry.example.com/"
    ]
