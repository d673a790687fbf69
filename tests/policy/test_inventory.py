"""data.inventory trees."""

from __future__ import annotations

import pytest

from kubegate.errors import InputError
from kubegate.policy.inventory import Inventory

OBJECTS = [
    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}},
    {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "web", "namespace": "prod"}},
    {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "fast"}},
]


def test_trees_follow_gatekeeper() -> None:
    inv = Inventory.from_objects(OBJECTS)
    assert set(inv.data["cluster"]) == {"v1", "storage.k8s.io/v1"}
    assert inv.data["namespace"]["prod"]["networking.k8s.io/v1"]["Ingress"]["web"] is OBJECTS[1]
    assert inv.namespace_object("prod") is OBJECTS[0]
    assert inv.namespace_object("dev") is None
    assert inv.count() == 3


def test_version_depends_on_content_not_order() -> None:
    assert Inventory.from_objects(OBJECTS).version == Inventory.from_objects(list(reversed(OBJECTS))).version
    assert Inventory.from_objects(OBJECTS).version != Inventory.from_objects(OBJECTS[:2]).version
    assert Inventory().empty


def test_objects_need_identity() -> None:
    with pytest.raises(InputError) as info:
        Inventory.from_objects([{"apiVersion": "v1", "kind": "Pod", "metadata": {}}])
    assert info.value.code == "invalid_inventory_object"
