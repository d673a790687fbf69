"""A CycloneDX SBOM of a module graph with the licenses found (``cyclonedx-python-lib``).

Each module is a ``library`` component with a ``pkg:golang/<path>@<version>``
purl (https://github.com/package-url/purl-spec, type ``golang``), its SPDX
expression as the component's license expression (or ``NOASSERTION`` when
unknown), and the verdict as the property ``kubegate:license-verdict``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot5
from packageurl import PackageURL

__all__ = ["cyclonedx_json"]


def cyclonedx_json(main: str, results: Sequence[dict[str, Any]]) -> str:
    """CycloneDX 1.5 JSON for ``results`` (``{"path", "version", "expression", "verdict"}`` each)."""
    bom = Bom()
    root = Component(name=main, type=ComponentType.APPLICATION, bom_ref=main)
    bom.metadata.component = root
    components = []
    for r in results:
        namespace, _, name = str(r["path"]).rpartition("/")
        expression = str(r.get("expression") or "")
        licenses = [LicenseExpression(expression)] if expression and "UNKNOWN" not in expression else []
        component = Component(
            name=r["path"],
            version=r["version"],
            type=ComponentType.LIBRARY,
            purl=PackageURL(type="golang", namespace=namespace or None, name=name, version=r["version"]),
            bom_ref=f"{r['path']}@{r['version']}",
            licenses=licenses,
            properties=[Property(name="kubegate:license-verdict", value=str(r.get("verdict", "")))],
        )
        bom.components.add(component)
        components.append(component)
    bom.register_dependency(root, components)
    return str(JsonV1Dot5(bom).output_as_string(indent=2))
