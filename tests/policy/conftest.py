"""Fixtures shared by policy tests: a small ConstraintTemplate written for these tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

TEMPLATE: dict[str, Any] = {
    "apiVersion": "templates.gatekeeper.sh/v1",
    "kind": "ConstraintTemplate",
    "metadata": {"name": "k8sreplicalimit"},
    "spec": {
        "crd": {
            "spec": {
                "names": {"kind": "K8sReplicaLimit"},
                "validation": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "max": {"type": "integer"},
                            "mode": {"type": "string", "enum": ["strict", "lenient"]},
                            "note": {"type": "string", "nullable": True},
                            "ports": {"type": "array", "items": {"x-kubernetes-int-or-string": True}},
                        },
                    }
                },
            }
        },
        "targets": [
            {
                "target": "admission.k8s.gatekeeper.sh",
                "rego": (
                    "package k8sreplicalimit\n\n"
                    "import data.lib.numbers.above\n\n"
                    'violation[{"msg": msg}] {\n'
                    "  above(input.review.object.spec.replicas, input.parameters.max)\n"
                    '  msg := sprintf("%v replicas is more than %v",\n'
                    "    [input.review.object.spec.replicas, input.parameters.max])\n"
                    "}\n"
                ),
                "libs": ["package lib.numbers\n\nabove(x, y) { x > y }\n"],
            }
        ],
    },
}

CONSTRAINT: dict[str, Any] = {
    "apiVersion": "constraints.gatekeeper.sh/v1beta1",
    "kind": "K8sReplicaLimit",
    "metadata": {"name": "at-most-three"},
    "spec": {
        "match": {"kinds": [{"apiGroups": ["apps"], "kinds": ["Deployment"]}]},
        "parameters": {"max": 3},
    },
}


@pytest.fixture
def template() -> dict[str, Any]:
    return copy.deepcopy(TEMPLATE)


@pytest.fixture
def constraint() -> dict[str, Any]:
    return copy.deepcopy(CONSTRAINT)
