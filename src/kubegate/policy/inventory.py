"""``data.inventory``: the cluster objects a policy can look up.

Gatekeeper replicates synced objects into ``data.inventory`` with two trees
(gatekeeper ``pkg/target/target.go`` ``processUnstructured``;
https://open-policy-agent.github.io/gatekeeper/website/docs/sync):

* ``cluster[groupVersion][kind][name]`` for cluster-scoped objects,
* ``namespace[namespace][groupVersion][kind][name]`` for namespaced ones,

where ``groupVersion`` is the object's ``apiVersion`` (``v1``, ``apps/v1``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubegate.errors import InputError

__all__ = ["Inventory"]


@dataclass(frozen=True)
class Inventory:
    """An immutable inventory built from objects.

    Attributes:
        data: ``{"cluster": {...}, "namespace": {...}}`` as policies read it.
        version: sha256 of the canonical JSON of ``data`` (empty inventory:
            the hash of ``{}`` trees).
    """

    data: Mapping[str, Any] = field(default_factory=lambda: {"cluster": {}, "namespace": {}})
    version: str = ""

    @classmethod
    def from_objects(cls, objects: Iterable[Mapping[str, Any]]) -> Inventory:
        """Builds an inventory; a later object with the same key replaces an earlier one.

        Raises:
            InputError: ``invalid_inventory_object`` for an object without
                ``apiVersion``, ``kind`` or ``metadata.name``.
        """
        cluster: dict[str, Any] = {}
        namespaced: dict[str, Any] = {}
        for obj in objects:
            api_version = obj.get("apiVersion")
            kind = obj.get("kind")
            meta = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
            name = meta.get("name") if isinstance(meta, dict) else None
            if not api_version or not kind or not name:
                raise InputError(
                    "inventory objects need apiVersion, kind and metadata.name", code="invalid_inventory_object"
                )
            namespace = meta.get("namespace") if isinstance(meta, dict) else None
            tree = namespaced.setdefault(str(namespace), {}) if namespace else cluster
            tree.setdefault(str(api_version), {}).setdefault(str(kind), {})[str(name)] = obj
        data = {"cluster": cluster, "namespace": namespaced}
        digest = hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        return cls(data, digest)

    @property
    def empty(self) -> bool:
        return not self.data.get("cluster") and not self.data.get("namespace")

    def namespace_object(self, name: str) -> Mapping[str, Any] | None:
        """The ``v1`` Namespace object called ``name``, if present."""
        found = self.data.get("cluster", {}).get("v1", {}).get("Namespace", {}).get(name)
        return found if isinstance(found, Mapping) else None

    def count(self) -> int:
        """Number of objects held."""
        total = 0
        for kinds in self.data.get("cluster", {}).values():
            total += sum(len(names) for names in kinds.values())
        for gvs in self.data.get("namespace", {}).values():
            for kinds in gvs.values():
                total += sum(len(names) for names in kinds.values())
        return total
