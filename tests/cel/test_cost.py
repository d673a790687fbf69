"""The static cost bound (``kubegate.cel.cost``): Kubernetes' units on the cases
of ``cases/cost.yaml``, iteration bounds against the runtime's own count, no
refusal of typical policies, refusal of runaway expressions before they run."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest
import yaml
from cel_expr_python import cel

from kubegate.cel import library
from kubegate.cel.ast import parse
from kubegate.cel.cost import PER_CALL_LIMIT, Cost, CostModel, Sizes, exceeds, size_summary
from kubegate.cel.env import EXTENSIONS_YAML, environment

CASES = yaml.safe_load((Path(__file__).parent / "cases" / "cost.yaml").read_text())
# A plain runtime env (no Kubernetes library): comprehension counting needs evaluation only.
PLAIN = cel.NewEnv(
    config=cel.NewEnvConfigFromYaml(EXTENSIONS_YAML + "  - name: bindings\n"),
    variables={"object": cel.Type.DYN, "pad": cel.Type.DYN},
)


def model(text: str, env: Any = PLAIN) -> CostModel:
    return CostModel.of(parse(env.compile(text), text))


@pytest.mark.parametrize("case", CASES, ids=[c["expr"][:70] for c in CASES])
def test_kubernetes_units_of_the_cost_test_cases(case: dict[str, Any]) -> None:
    needed = case.get("requires")
    names = {module.__name__.rsplit(".", 1)[-1] for module in library.LIBRARIES}
    if needed and needed not in names:
        pytest.skip(f"{needed} is not in kubegate's environment")
    units = model(case["expr"], environment(["authorizer"])).bound(Sizes()).units
    assert case["runtime"] <= units <= max(case["estimate"][1], case["runtime"]) + 2


def real_iterations(text: str, obj: object) -> int:
    """The runtime's own iteration count of ``text``: the largest padding the
    budget of 10,000 still allows beside it (exceeded when the total reaches it)."""
    program = PLAIN.compile(f"pad.all(__p, true) && [{text}].size() == 1")

    def fits(k: int) -> bool:
        try:
            program.eval(PLAIN.Activation({"object": obj, "pad": [0] * k}))
        except RuntimeError as exc:
            assert "budget" in str(exc).lower()
            return False
        return True

    low, high = 0, 9999
    while low < high:
        mid = (low + high + 1) // 2
        low, high = (mid, high) if fits(mid) else (low, mid - 1)
    return 9999 - low


BOUNDED = [
    "object.items.all(x, x.n > 0)",
    "object.items.exists(x, x.n > 5)",
    "object.items.exists_one(x, x.n == 3)",
    "object.items.map(x, x.n * 2).filter(y, y > 4).size()",
    "object.items.filter(x, object.items.exists(y, y.n == x.n + 1)).size()",
    "object.items.map(x, x.tags.map(t, t + x.name)).size()",
    "object.labels.all(k, object.labels[k] != '')",
    "object.name.split('-').all(p, p.size() < 10)",
    "cel.bind(v, object.items.filter(x, x.n > 2), v.size() + v.map(x, x.n).size())",
    "(object.items + object.items).exists(x, x.tags.exists(t, t == 'b'))",
    "[1, 2, 3].map(i, object.items.map(x, x.n + i)).size()",
    "has(object.items) ? object.items.all(x, has(x.tags) && x.tags.all(t, t.size() > 0)) : true",
]


@pytest.mark.parametrize("text", BOUNDED)
def test_the_bound_covers_the_runtimes_iterations(text: str) -> None:
    rng = random.Random(text)
    bound = model(text)
    for _ in range(4):
        count = rng.randint(0, 12)
        obj = {
            "name": "-".join(rng.choice(["a", "bc", "def"]) for _ in range(rng.randint(1, 6))),
            "labels": {f"k{i}": rng.choice(["", "v", "value"]) for i in range(rng.randint(0, 8))},
            "items": [
                {"n": rng.randint(0, 8), "name": f"i{i}", "tags": rng.sample(["a", "b", "c", "dd"], rng.randint(0, 4))}
                for i in range(count)
            ],
        }
        cost = bound.bound(size_summary({"object": obj}))
        assert cost.iterations >= real_iterations(text, obj)


def pod(containers: int) -> dict[str, Any]:
    """A Pod as an admission request carries it (labels, annotations, managed fields)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7d4b9c",
            "namespace": "prod",
            "labels": {"app": "web", "tier": "frontend", "pod-template-hash": "7d4b9c"},
            "annotations": {"kubernetes.io/psp": "restricted", "prometheus.io/scrape": "true"},
            "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "fieldsV1": {"f:spec": {}}}
            ],
        },
        "spec": {
            "serviceAccountName": "web",
            "securityContext": {"runAsNonRoot": True},
            "containers": [
                {
                    "name": f"c{i}",
                    "image": f"registry.example.com/team/app-{i}:1.{i}.0",
                    "ports": [{"containerPort": 8080 + i, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m"}},
                    "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                    "env": [{"name": "MODE", "value": "prod"}, {"name": "PORT", "value": str(8080 + i)}],
                }
                for i in range(containers)
            ],
        },
    }


GATEKEEPER_LIKE = [  # the shapes of the gatekeeper-library's K8sNativeValidation expressions
    "has(object.spec.containers) ? object.spec.containers : []",
    "object.spec.containers.filter(c, !has(c.securityContext) || !has(c.securityContext.allowPrivilegeEscalation)"
    " || c.securityContext.allowPrivilegeEscalation).map(c, 'container ' + c.name + ' allows escalation')",
    "object.spec.containers.all(c, ['registry.example.com/', 'gcr.io/'].exists(p, c.image.startsWith(p)))",
    "object.spec.containers.map(c, c.image).filter(i, !i.endsWith(':latest')).size() == size(object.spec.containers)",
    "!has(object.metadata.labels) || ['app', 'tier'].all(l, l in object.metadata.labels)",
    "object.spec.containers.filter(c, has(c.securityContext.capabilities) &&"
    " c.securityContext.capabilities.drop.exists(d, d == 'ALL')).map(c, c.name).join(', ')",
    "cel.bind(bad, object.spec.containers.filter(c, !has(c.resources.limits.memory)), bad.size() == 0 ||"
    " ('missing limits: ' + bad.map(c, c.name).join(', ')).size() > 0)",
    "object.spec.containers.all(c, c.ports.all(p, p.containerPort >= 1024 && p.protocol in ['TCP', 'UDP']))",
]


@pytest.mark.parametrize("text", GATEKEEPER_LIKE)
def test_typical_policies_are_far_below_the_limits(text: str) -> None:
    cost = model(text).bound(size_summary({"object": pod(10), "params": {"exemptImages": ["gcr.io/x"]}}))
    assert cost.units < PER_CALL_LIMIT // 100 and cost.seconds < 0.01 and cost.iterations < 1000
    assert exceeds(cost, seconds_left=0.5) is None


RUNAWAYS = [  # docs/cel-notes.md §4: within the runtime's 10,000-iteration budget, seconds each
    ("object.a.map(x, x + 1).size()", {"a": list(range(9999))}),
    ("object.a.filter(x, x >= 0).size()", {"a": list(range(8000))}),
    ("object.a.map(x, object.s.split(',').size()).size()", {"a": list(range(9000)), "s": ",".join(["ab"] * 10_000)}),
    ("object.a.map(x, object.s + object.s).size()", {"a": list(range(9000)), "s": "x" * 100_000}),
    ("object.a.map(x, object.s.matches('^(x+x+)+y$')).size()", {"a": list(range(9000)), "s": "x" * 10_000}),
]


@pytest.mark.parametrize(("text", "obj"), RUNAWAYS, ids=[t for t, _ in RUNAWAYS])
def test_runaway_expressions_are_refused_before_they_run(text: str, obj: dict[str, Any]) -> None:
    cost = model(text).bound(size_summary({"object": obj}))
    reason = exceeds(cost, seconds_left=1.0)
    assert reason is not None and cost.seconds > 1.0


def test_the_time_estimate_is_not_far_above_a_measured_run() -> None:
    import time

    obj = {"a": list(range(2000))}
    program = PLAIN.compile("object.a.map(x, x + 1).size()")
    activation = PLAIN.Activation({"object": obj})
    start = time.perf_counter()
    program.eval(activation)
    measured = time.perf_counter() - start
    estimated = model("object.a.map(x, x + 1).size()").bound(size_summary({"object": obj})).seconds
    assert estimated <= 20 * measured  # load only makes the measurement larger


def test_exceeds_names_the_limit_that_was_passed() -> None:
    assert exceeds(Cost(2_000_000, 0.001, 10)) == (
        "estimated cost 2000000 exceeds the per-expression limit of 1000000 "
        "(Kubernetes cancels such an evaluation: actual cost limit exceeded)"
    )
    assert "exceeds the 0.5 s left" in (exceeds(Cost(10, 2.0, 10), seconds_left=0.5) or "")
    assert exceeds(Cost(10, 2.0, 10), per_call_limit=5, seconds_left=0.5) is not None
    assert exceeds(Cost(999_999, 0.4, 9_999), seconds_left=0.5) is None


def test_size_summary_measures_every_value() -> None:
    values = {"object": {"a": [1, 2, 3], "long-key-name": {"s": "héllo"}}, "params": None, "b": b"1234567"}
    assert size_summary(values) == Sizes(lists=3, strings=13, nodes=9)
    assert size_summary({}) == Sizes()


def test_the_bound_grows_with_the_input() -> None:
    m = model("object.a.map(x, object.a.filter(y, y.s.startsWith(x.s)).size())")
    small, large = m.bound(Sizes(10, 20, 100)), m.bound(Sizes(1000, 20, 10_000))
    assert large.units > 1000 * small.units / 2 and large.iterations >= 1000 * 1000
    assert large.seconds > 100 * small.seconds
