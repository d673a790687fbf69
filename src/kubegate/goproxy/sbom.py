"""SBOMs of a module graph with the licenses found: CycloneDX (``cyclonedx-python-lib``)
and SPDX (``spdx-tools``).

CycloneDX 1.5 JSON: each module is a ``library`` component with a
``pkg:golang/<path>@<version>`` purl (https://github.com/package-url/purl-spec,
type ``golang``), its SPDX expression as the component's license expression
(none when unknown), and the verdict as the property ``kubegate:license-verdict``.

SPDX 2.3 JSON (https://spdx.github.io/spdx-spec/v2.3/): the main module is
the package the document ``DESCRIBES`` and ``DEPENDS_ON`` every module
package; a module package has its version, the purl as a
``PACKAGE-MANAGER purl`` external reference, the expression found as
``licenseConcluded`` and ``licenseDeclared`` (``NOASSERTION`` when a file was
``UNKNOWN`` or an id is not on the SPDX list), ``downloadLocation``
``NOASSERTION``, ``filesAnalyzed: false`` and the verdict in its comment.
The document is validated by spdx-tools before it is written.
"""

from __future__ import annotations

import datetime
import io
import re
import uuid
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from cyclonedx.model import Property
from cyclonedx.model.bom import Bom
from cyclonedx.model.component import Component, ComponentType
from cyclonedx.model.license import LicenseExpression
from cyclonedx.output.json import JsonV1Dot5
from license_expression import get_spdx_licensing  # type: ignore[import-untyped]
from packageurl import PackageURL
from spdx_tools.spdx.model.actor import Actor, ActorType
from spdx_tools.spdx.model.document import CreationInfo, Document
from spdx_tools.spdx.model.package import ExternalPackageRef, ExternalPackageRefCategory, Package
from spdx_tools.spdx.model.relationship import Relationship, RelationshipType
from spdx_tools.spdx.model.spdx_no_assertion import SpdxNoAssertion
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document
from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream

from kubegate.errors import KubegateError

__all__ = ["cyclonedx_json", "spdx_json"]


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


_LICENSING = get_spdx_licensing()


class SbomError(KubegateError):
    """An SBOM that spdx-tools finds invalid (a bug here, never the input's fault)."""

    code = "sbom_invalid"


def _purl(path: str, version: str) -> str:
    namespace, _, name = path.rpartition("/")
    return str(PackageURL(type="golang", namespace=namespace or None, name=name, version=version).to_string())


def _spdx_id(text: str) -> str:
    """``SPDXRef-`` and ``text`` with what SPDX ids may not hold (``[A-Za-z0-9.-]`` only) as ``-``."""
    return "SPDXRef-" + re.sub(r"[^A-Za-z0-9.-]", "-", text)


def _license(expression: str) -> Any:
    """The parsed expression, or NOASSERTION for ``UNKNOWN``/``NOASSERTION``/ids off the SPDX list."""
    if not expression or "UNKNOWN" in expression or "NOASSERTION" in expression:
        return SpdxNoAssertion()
    try:
        parsed = _LICENSING.parse(expression, validate=True, strict=True)
    except Exception:  # license_expression raises several unrelated types for bad input
        return SpdxNoAssertion()
    return parsed if parsed is not None else SpdxNoAssertion()


def spdx_json(main: str, results: Sequence[dict[str, Any]], created: datetime.datetime | None = None) -> str:
    """SPDX 2.3 JSON for ``results`` (``{"path", "version", "expression", "verdict"}`` each).

    Raises:
        SbomError: ``sbom_invalid`` when spdx-tools' validation fails.
    """
    try:
        tool = f"kubegate-{metadata.version('kubegate')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree
        tool = "kubegate"
    when = (created or datetime.datetime.now(datetime.UTC)).replace(microsecond=0, tzinfo=None)
    info = CreationInfo(
        spdx_version="SPDX-2.3",
        spdx_id="SPDXRef-DOCUMENT",
        name=f"golicense {main}",
        document_namespace=f"https://kubegate.invalid/spdx/golicense/{main}/{uuid.uuid4()}",
        creators=[Actor(ActorType.TOOL, tool)],
        created=when,
    )
    root_id = _spdx_id("main-" + main)
    packages = [Package(spdx_id=root_id, name=main, download_location=SpdxNoAssertion(), files_analyzed=False)]
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root_id)]
    used = {root_id}
    for r in results:
        path, version = str(r["path"]), str(r["version"])
        package_id = base = _spdx_id(f"{path}@{version}")
        while package_id in used:  # a/b and a-b spell one id
            package_id = f"{base}-{len(used)}"
        used.add(package_id)
        license_value = _license(str(r.get("expression") or ""))
        packages.append(
            Package(
                spdx_id=package_id,
                name=path,
                download_location=SpdxNoAssertion(),
                version=version,
                files_analyzed=False,
                license_concluded=license_value,
                license_declared=license_value,
                comment=f"kubegate license verdict: {r.get('verdict', '')}",
                external_references=[
                    ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", _purl(path, version))
                ],
            )
        )
        relationships.append(Relationship(root_id, RelationshipType.DEPENDS_ON, package_id))
    document = Document(creation_info=info, packages=packages, relationships=relationships)
    problems = validate_full_spdx_document(document)
    if problems:
        raise SbomError("; ".join(p.validation_message for p in problems[:5]))
    out = io.StringIO()
    write_document_to_stream(document, out, validate=False)
    return out.getvalue()
