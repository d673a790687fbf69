"""Prepared policy sets: compilation units, reuse across inventory changes, dispatch."""

from __future__ import annotations

from kubegate.engine.inputs import build_review
from kubegate.engine.prepared import prepare
from kubegate.engine.regopy_backend import RegopyBackend
from kubegate.policy.catalog import RegoFile, build_catalog
from kubegate.policy.inventory import Inventory
from kubegate.policy.loader import load_policy_objects
from tests.policy.conftest import CONSTRAINT, TEMPLATE

UNIQUE = RegoFile(
    "unique.rego",
    "package unique\nimport rego.v1\ndeny contains msg if {\n"
    "  some name, _ in data.inventory.cluster.v1.Namespace\n"
    '  name == input.review.object.metadata.name\n  msg := sprintf("namespace %v exists", [name])\n}\n',
)
PLAIN = RegoFile("plain.rego", 'package plain\nimport rego.v1\nwarn contains "seen" if input.review.object.kind\n')


def catalog():  # type: ignore[no-untyped-def]
    return build_catalog(load_policy_objects([TEMPLATE, CONSTRAINT, UNIQUE, PLAIN]))


def ns(name: str) -> dict:  # type: ignore[type-arg]
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


def test_each_independent_part_is_its_own_unit() -> None:
    prepared = prepare(catalog(), RegopyBackend())
    assert not prepared.errors
    owners = sorted(u.owners for u in prepared.units)
    assert len(owners) == 3
    assert any("template:K8sReplicaLimit" in o for o in owners)
    assert [u.uses_inventory for u in prepared.units].count(True) == 1


def test_an_inventory_change_recompiles_only_units_that_read_it() -> None:
    backend = RegopyBackend()
    first = prepare(catalog(), backend, Inventory.from_objects([ns("a")]))
    second = prepare(first.catalog, backend, Inventory.from_objects([ns("b")]), previous=first)
    assert second.version != first.version
    before = {u.owners: u for u in first.units}
    for unit in second.units:
        same = unit.compiled is before[unit.owners].compiled
        assert same is (not unit.uses_inventory), unit.owners
    assert second.units and all(u.compile_ms == 0 or u.uses_inventory for u in second.units)
    result = second.review(build_review(ns("b")))
    assert [v.message for v in result.violations if v.policy == "unique"] == ["namespace b exists"]
    assert not [v for v in first.review(build_review(ns("b"))).violations if v.policy == "unique"]


def test_dispatch_passes_each_constraints_parameters() -> None:
    prepared = prepare(catalog(), RegopyBackend())
    text = prepared.dispatch_text("K8sReplicaLimit/at-most-three")
    assert "with input.parameters as" in text and '"max": 3' in text
