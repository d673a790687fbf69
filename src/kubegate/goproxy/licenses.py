"""License detection from a module zip.

Every LICENSE/LICENCE/COPYING/NOTICE file at the module root or in a
subdirectory (``vendor/`` excluded) is classified with ``licenseclassifier``
(a pure-Python port of google/licensecheck, the detector pkg.go.dev uses:
https://pkg.go.dev/license-policy), and each SPDX id is normalised with
``license-expression`` (``GPL-3.0`` → ``GPL-3.0-only``, ``GPL-3.0+`` →
``GPL-3.0-or-later``). A file the classifier cannot cover to its threshold
(75 % of the text), such as one that only points elsewhere, gives
``UNKNOWN``; a module with no license file gives one ``UNKNOWN`` entry with
``file: ""``. A NOTICE file that classifies as no license (Apache's
attribution notices) is listed as ``NOASSERTION`` and left out of the
expression. The module's ``expression`` is the ``AND`` of the distinct ids
found (a file holding two licenses, as dual-licensed projects write them,
contributes its ids joined with ``OR``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import metadata
from typing import Any

from license_expression import ExpressionError, Licensing, get_spdx_licensing  # type: ignore[import-untyped]
from licenseclassifier import COVERAGE_THRESHOLD
from licenseclassifier._engine import scan

__all__ = ["DETECTOR", "NOASSERTION", "UNKNOWN", "LicenseFinding", "choices", "detect_licenses", "normalise_spdx"]

UNKNOWN = "UNKNOWN"
NOASSERTION = "NOASSERTION"
DETECTOR = f"licenseclassifier {metadata.version('licenseclassifier')}"


@dataclass(frozen=True)
class LicenseFinding:
    """One license file: its path in the module, the SPDX expression, and the
    share of the text the classifier matched (0..1)."""

    file: str
    spdx: str
    confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "spdx": self.spdx, "confidence": round(self.confidence, 4)}


@lru_cache(maxsize=1)
def _licensing() -> Licensing:
    return get_spdx_licensing()


def normalise_spdx(expression: str) -> str:
    """The SPDX form of an id or expression (``GPL-3.0+`` → ``GPL-3.0-or-later``;
    ``UNKNOWN`` for an empty or unparsable one; unknown ids are kept as written)."""
    if not expression.strip() or expression.strip() == UNKNOWN:
        return UNKNOWN
    try:
        parsed = _licensing().parse(expression, validate=False)
    except ExpressionError:
        return UNKNOWN
    return UNKNOWN if parsed is None else str(parsed.render())


def classify(name: str, data: bytes) -> LicenseFinding:
    """Classifies one license file's bytes (UTF-8, undecodable bytes replaced)."""
    text = data.decode("utf-8", errors="replace")
    coverage = scan(text)
    ids: list[str] = []
    for match in coverage.match:
        spdx = normalise_spdx(match.id)
        if spdx not in ids and not match.is_url:
            ids.append(spdx)
    if coverage.percent < COVERAGE_THRESHOLD or not ids:
        notice = name.rsplit("/", 1)[-1].upper().startswith("NOTICE")
        return LicenseFinding(name, NOASSERTION if notice else UNKNOWN, coverage.percent / 100)
    expression = ids[0] if len(ids) == 1 else normalise_spdx(" OR ".join(ids))
    return LicenseFinding(name, expression, coverage.percent / 100)


def detect_licenses(files: Mapping[str, bytes]) -> tuple[tuple[LicenseFinding, ...], str]:
    """The findings for ``files`` (module-relative name → bytes) and the module's expression."""
    findings = tuple(classify(name, files[name]) for name in sorted(files))
    if not findings:
        return (LicenseFinding("", UNKNOWN, 0.0),), UNKNOWN
    distinct: list[str] = []
    for f in findings:
        if f.spdx not in distinct and f.spdx != NOASSERTION:
            distinct.append(f.spdx)
    if not distinct:
        return findings, UNKNOWN
    if len(distinct) == 1:
        return findings, distinct[0]
    parts = [f"({d})" if " " in d else d for d in distinct]
    return findings, " AND ".join(parts)


def choices(expression: str) -> list[list[str]]:
    """The expression in disjunctive normal form: alternatives, each a list of ids
    that must all be acceptable (``MIT OR Apache-2.0`` → ``[["MIT"], ["Apache-2.0"]]``;
    ``WITH`` exceptions stay attached to their license: ``GPL-2.0-only WITH
    Classpath-exception-2.0``)."""
    if expression in (UNKNOWN, NOASSERTION):
        return [[expression]]
    licensing = _licensing()
    try:
        parsed = licensing.parse(expression, validate=False)
        dnf = licensing.dnf(parsed)
    except (ExpressionError, TypeError, AttributeError):
        return [[UNKNOWN]]
    if dnf is None:
        return [[UNKNOWN]]
    out: list[list[str]] = []
    terms = dnf.args if getattr(dnf, "operator", "") == " OR " else (dnf,)
    for term in terms:
        parts = term.args if getattr(term, "operator", "") == " AND " else (term,)
        out.append(sorted(str(p.render()) for p in parts))
    return out
