"""Mutation strategies shared by the fuzz tests (tests/policy/test_fuzz_loading.py,
tests/dsl/test_fuzz_dsl.py).

Mutations start from real-looking seeds (the bundled examples/, the policy
library and its test fixtures) and apply a few edits each: text edits that
insert the values the fuzz run found troublesome (huge numbers, deep nesting,
aliases, surrogates, control characters, collection keys ...), and
structural edits that replace a value of a parsed object with a value of the
wrong type. ``KUBEGATE_FUZZ_EXAMPLES`` sets how many examples each fuzz test
runs (``make fuzz`` runs them longer); the default keeps the suite fast.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from kubegate.errors import KubegateError

ROOT = Path(__file__).parents[2]
FUZZ_ENV = "KUBEGATE_FUZZ_EXAMPLES"
CODE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def fuzz_settings(default: int) -> settings:
    """Deterministic, bounded hypothesis settings; ``KUBEGATE_FUZZ_EXAMPLES`` overrides ``default``."""
    examples = int(os.environ.get(FUZZ_ENV) or default)
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )


def assert_kubegate_error(error: BaseException, *, located: bool = False) -> None:
    """A deliberate error: a KubegateError with a stable snake_case code (and a location when asked)."""
    assert isinstance(error, KubegateError), repr(error)
    assert CODE.match(error.code), error.code
    assert error.message, error
    if located:
        assert error.location is not None, str(error)
    str(error)  # rendering never fails
    error.to_dict()


def _read(*patterns: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for pattern in patterns:
        for path in sorted(ROOT.glob(pattern)):
            out[str(path.relative_to(ROOT))] = path.read_text("utf-8")
    return out


MANIFEST_SEEDS = _read("examples/manifests/*.yaml", "examples/parameters.yaml")
POLICY_SEEDS = _read(
    "examples/policies/*.yaml",
    "examples/suites/required-owner/*.yaml",
    "tests/policy/library/*.yaml",
    "tests/webhook/policies/main/*.yaml",
)
# Forms the bundled files do not use: multi-engine code, scoped enforcement,
# selectors, rollouts, METADATA-described Rego policies.
POLICY_SEEDS["seeds/multi-engine-template.yaml"] = """\
apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata:
  name: k8sdisallowedtags
  annotations: {metadata.gatekeeper.sh/title: Disallowed tags, description: Images must not use listed tags.}
spec:
  crd:
    spec:
      names: {kind: K8sDisallowedTags}
      validation:
        openAPIV3Schema:
          type: object
          properties:
            tags: {type: array, items: {type: string}}
            exempt: {type: array, items: {type: string}, nullable: true}
            limits: {type: object, additionalProperties: {x-kubernetes-int-or-string: true}}
          required: [tags]
  targets:
  - target: admission.k8s.gatekeeper.sh
    code:
    - engine: K8sNativeValidation
      source: {validations: [{expression: "true"}]}
    - engine: Rego
      source:
        version: v1
        libs:
        - |
          package lib.tags
          bad(image, tags) if { some t in tags; endswith(image, concat(":", ["", t])) }
        rego: |
          package k8sdisallowedtags
          import data.lib.tags.bad
          violation contains {"msg": msg} if {
            some c in input.review.object.spec.containers
            bad(c.image, input.parameters.tags)
            msg := sprintf("container %v uses a disallowed tag", [c.name])
          }
"""
POLICY_SEEDS["seeds/scoped-constraint.yaml"] = """\
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sDisallowedTags
metadata:
  name: no-latest
  annotations: {kubegate.io/rollout: canary 10% by namespace}
spec:
  enforcementAction: scoped
  scopedEnforcementActions:
  - action: deny
    enforcementPoints: [{name: validation.gatekeeper.sh}]
  - action: warn
    enforcementPoints: [{name: "*"}]
  match:
    kinds: [{apiGroups: [""], kinds: [Pod]}]
    scope: Namespaced
    namespaces: ["prod-*"]
    excludedNamespaces: [kube-system]
    labelSelector:
      matchLabels: {app: web}
      matchExpressions: [{key: tier, operator: In, values: [a, b]}, {key: legacy, operator: DoesNotExist}]
    namespaceSelector: {matchExpressions: [{key: env, operator: NotIn, values: [dev]}]}
    name: "web-*"
    source: Original
  parameters: {tags: [latest], limits: {cpu: 2, memory: 1Gi}}
"""

REGO_SEEDS = _read("src/kubegate/policy/library/*.rego", "tests/webhook/policies/main/*.rego")
REGO_SEEDS["seeds/described.rego"] = """\
# METADATA
# title: Replicas are bounded
# description: Deployments run at most max replicas.
# custom:
#   id: replicas-bounded
#   severity: low
#   enforcement: warn
#   parameters: {max: 10}
#   parametersSchema: {type: object, properties: {max: {type: integer, minimum: 1}}}
#   match: {kinds: [{apiGroups: [apps], kinds: [Deployment]}], namespaces: [prod]}
#   rollout: shadow
package replicas.bounded

import rego.v1

warn contains msg if {
  input.review.object.spec.replicas > input.parameters.max
  msg := sprintf("%d replicas is more than %d", [input.review.object.spec.replicas, input.parameters.max])
}
"""

DSL_SEEDS = _read("examples/policies/*.kgr", "src/kubegate/policy/library/*.kgr", "tests/dsl/golden/*.kgr")

# Values and fragments that broke loading once, or that are on a bound's edge.
FRAGMENTS = [
    "1" * 400,
    "-" + "9" * 5000,
    "1.0e+400",
    ".inf",
    "-.Inf",
    ".nan",
    "1e400",
    "0x" + "f" * 300,
    "1:2:3:4:5",
    '"\\ud800"',
    '"\\udfff x"',
    '"\\ud83d\\ude00"',
    "\ud800",
    "\x00",
    "\x07",
    "\x1b",
    "\t",
    "\r",
    "\u2028",
    "\ufeff",
    "é",
    "[" * 130 + "]" * 130,
    "{a: " * 60 + "1" + "}" * 60,
    "[",
    "]",
    "{",
    "}",
    "{a: 1}: x",
    "? [1, 2]\n: x",
    "&a",
    "*a",
    "&a [x, x, x, x]",
    "[*a, *a, *a, *a]",
    "<<: *a",
    "<<: 5",
    "!!binary aGVsbG8=",
    "!!set {a, b}",
    "!!omap [a: 1]",
    "!!python/object:os.system x",
    "!custom x",
    "---",
    "...",
    "%YAML 1.1",
    ": ",
    "- ",
    "- - -",
    "'",
    '"',
    "#",
    "|",
    ">-",
    "null",
    "~",
    "true",
    "yes",
    "2001-12-14t21:59:43.10-05:00",
    "1: a",
    "labels: [a, b]",
    "labels: 5",
    "labels: {app: [web]}",
    "metadata: [x]",
    "name: 5",
    "namespace: {a: 1}",
    "properties: 5",
    "properties: [a]",
    "type: 5",
    "type: [string, 5]",
    "$ref: '#/nope'",
    "$schema: 5",
    "items: x",
    "required: 5",
    "matchLabels: {a: [b]}",
    "matchExpressions: [{key: {a: 1}, operator: In, values: [x]}]",
    "operator: [In]",
    "namespaces: x",
    "kinds: {a: b}",
    "scope: {a: 1}",
    "enforcementAction: [deny]",
    "scopedEnforcementActions: 5",
    "parameters: [1]",
    "rego: 5",
    "libs: [5]",
    "targets: {}",
    "kind: List\nitems: [5]",
    "apiVersion: constraints.gatekeeper.sh/v1beta1",
    "apiVersion: templates.gatekeeper.sh/v1",
]

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
_PAYLOAD = st.one_of(st.sampled_from(FRAGMENTS), _TEXT)


@st.composite
def mutated_text(draw: st.DrawFn, seeds: dict[str, str], max_edits: int = 4) -> tuple[str, str]:
    """``(seed name, text)``: a seed with up to ``max_edits`` edits."""
    name = draw(st.sampled_from(sorted(seeds)))
    text = seeds[name]
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["insert", "delete", "replace_value", "duplicate", "indent", "swap"]))
        lines = text.split("\n")
        if kind == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(_PAYLOAD) + text[at:]
        elif kind == "delete" and text:
            at = draw(st.integers(0, len(text) - 1))
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind == "replace_value":
            candidates = [i for i, line in enumerate(lines) if ":" in line]
            if candidates:
                i = draw(st.sampled_from(candidates))
                head = lines[i][: lines[i].index(":") + 1]
                lines[i] = head + " " + draw(_PAYLOAD)
                text = "\n".join(lines)
        elif kind == "duplicate":
            i = draw(st.integers(0, len(lines) - 1))
            j = min(len(lines), i + draw(st.integers(1, 8)))
            lines[j:j] = lines[i:j]
            text = "\n".join(lines)
        elif kind == "indent":
            i = draw(st.integers(0, len(lines) - 1))
            lines[i] = " " * draw(st.integers(0, 6)) + lines[i].lstrip(" ")
            text = "\n".join(lines)
        elif kind == "swap" and len(lines) > 1:
            i = draw(st.integers(0, len(lines) - 2))
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            text = "\n".join(lines)
    return name, text


def _nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = [value]
    return value


# Values of the wrong type or shape, for structural edits of parsed objects.
WRONG_VALUES: list[Any] = [
    None,
    True,
    0,
    -1,
    1.5,
    10**400,
    float("inf"),
    float("nan"),
    "",
    "x",
    "\ud800",
    [],
    [1, "a", None],
    [[]],
    {},
    {"a": [1, {"b": None}]},
    {1: "int key"},
    {"app": ["web"]},
    {"matchLabels": {"a": 1}},
    {"kinds": "Pod"},
    {"properties": 5},
    {"type": 5},
    {"$ref": "#/nope"},
    ("a", "tuple"),
    b"bytes",
    {"set"},
    object(),
    _nested(150),
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated_object(draw: st.DrawFn, seeds: dict[str, str], max_edits: int = 3) -> tuple[str, Any]:
    """``(seed name, object)``: the first document of a seed with up to ``max_edits``
    values replaced by values of the wrong type (in memory: no YAML in between)."""
    name = draw(st.sampled_from(sorted(seeds)))
    obj = copy.deepcopy(next(d for d in yaml.safe_load_all(seeds[name]) if d is not None))
    for _ in range(draw(st.integers(1, max_edits))):
        path = draw(st.sampled_from(_paths(obj)))
        value = draw(st.sampled_from(WRONG_VALUES))
        if not path:
            obj = copy.deepcopy(value) if isinstance(value, dict | list) else value
            continue
        parent = obj
        for part in path[:-1]:
            parent = parent[part]
        if draw(st.booleans()) and isinstance(parent, dict):
            parent.pop(path[-1], None)
        else:
            parent[path[-1]] = copy.deepcopy(value) if isinstance(value, dict | list) else value
    return name, obj
