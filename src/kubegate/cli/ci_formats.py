"""CI report formats for ``kubegate check`` and ``kubegate verify``: JUnit XML, TAP, GitHub annotations.

* **JUnit XML** as Jenkins, GitLab and most CI systems read it
  (https://github.com/testmoapp/junitxml): ``<testsuites>`` of
  ``<testsuite>`` (one per input file, or per suite for ``verify``) of
  ``<testcase>`` (one per object, or per case). ``deny`` violations are a
  ``<failure>``; ``warn`` and ``dryrun`` ones go to ``<system-out>``; an input
  or policy that could not be loaded is an ``<error>`` in a suite of its own,
  so a run with errors never reads as green.
* **TAP 14** (https://testanything.org/tap-version-14-specification.html):
  one test point per object, ``not ok`` for deny violations and for each
  error, with a YAML diagnostic block.
* **GitHub workflow commands**
  (https://docs.github.com/en/actions/using-workflow-commands-for-github-actions):
  ``::error file=F,line=L,title=T::message`` per deny violation and error,
  ``::warning`` per warn, ``::notice`` per dryrun, so each shows on the
  manifest line in the pull request.

conftest exceptions (results a package's ``exception`` rule suppressed) never
fail: they are ``<system-out>`` lines in JUnit, an ``exceptions`` list in the
TAP diagnostic of an ``ok`` point, a ``::notice`` on GitHub. The combined
input of ``--combine`` is one test case / test point named after its files.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from typing import Any

import yaml

from kubegate.cli.report import CheckReport, ObjectResult
from kubegate.errors import KubegateError

__all__ = [
    "render_github",
    "render_junit",
    "render_tap",
    "render_verify_junit",
    "tap_yaml_block",
    "workflow_command",
]


def _object_label(result: ObjectResult) -> str:
    if result.combined:
        return f"combined input ({', '.join(result.files)})"
    doc = result.document
    where = f" (line {doc.line})" if doc.line else ""
    if not doc.kind:  # a document that is not a Kubernetes object
        return f"document {doc.index}{where}"
    ns = f"{doc.namespace}/" if doc.namespace else ""
    return f"{doc.kind} {ns}{doc.name or '<unnamed>'}{where}"


def _error_text(error: KubegateError) -> str:
    return f"{error.location}: {error.code}: {error.message}" if error.location else f"{error.code}: {error.message}"


def _xml(root: ET.Element) -> str:
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _errors_suite(errors: Sequence[KubegateError], name: str) -> ET.Element:
    suite = ET.Element("testsuite", name=name, tests=str(len(errors)), failures="0", errors=str(len(errors)))
    suite.set("skipped", "0")
    for n, error in enumerate(errors, 1):
        case = ET.SubElement(suite, "testcase", name=f"{error.code} #{n}", classname=name)
        if error.location is not None:
            case.set("file", error.location.file)
            if error.location.line:
                case.set("line", str(error.location.line))
        ET.SubElement(case, "error", message=error.message, type=error.code).text = _error_text(error)
    return suite


def render_junit(report: CheckReport) -> str:
    """``kubegate check`` as JUnit XML (see the module docstring)."""
    root = ET.Element("testsuites", name="kubegate check")
    by_file: dict[str, list[ObjectResult]] = {}
    for result in report.results:
        by_file.setdefault(result.document.source, []).append(result)
    total = failures = 0
    for source, results in by_file.items():
        failed = sum(1 for r in results if any(v.enforcement == "deny" for v in r.violations))
        suite = ET.SubElement(root, "testsuite", name=source, tests=str(len(results)), failures=str(failed))
        suite.set("errors", "0")
        suite.set("skipped", "0")
        for result in results:
            case = ET.SubElement(suite, "testcase", name=_object_label(result), classname=source)
            if not result.combined:
                case.set("file", source)
            if result.document.line:
                case.set("line", str(result.document.line))
            deny = [v for v in result.violations if v.enforcement == "deny"]
            if deny:
                failure = ET.SubElement(case, "failure", message=deny[0].message, type="deny")
                failure.text = "\n".join(f"[{v.policy}] {v.message}" for v in deny)
            others = [v for v in result.violations if v.enforcement != "deny"]
            notes = [f"{v.enforcement}: [{v.policy}] {v.message}" for v in others]
            notes += [f"skipped: [{s.policy}] {s.reason}" for s in result.skipped]
            for e in result.exceptions:
                notes.append(f"exception: [{e.policy}] {e.message}")
                notes += [f"  suppressed {e.rule}: {m}" for m in e.suppressed]
            if notes:
                ET.SubElement(case, "system-out").text = "\n".join(notes)
        total += len(results)
        failures += failed
    if report.errors:
        root.append(_errors_suite(report.errors, "kubegate errors"))
    root.set("tests", str(total + len(report.errors)))
    root.set("failures", str(failures))
    root.set("errors", str(len(report.errors)))
    root.set("skipped", "0")
    return _xml(root)


def _exceptions(summary: dict[str, Any]) -> str:
    return f"{summary['exceptions']} exceptions, " if summary["exceptions"] else ""


def tap_yaml_block(data: dict[str, Any]) -> list[str]:
    """A TAP 14 YAML diagnostic block (``---`` ... ``...``, indented two spaces)."""
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=1000).rstrip("\n")
    return ["  ---", *(f"  {line}" for line in text.splitlines()), "  ..."]


def render_tap(report: CheckReport) -> str:
    """``kubegate check`` as TAP version 14 (see the module docstring)."""
    lines = ["TAP version 14", f"1..{len(report.results) + len(report.errors)}"]
    n = 0
    for result in report.results:
        n += 1
        deny = [v for v in result.violations if v.enforcement == "deny"]
        status = "not ok" if deny else "ok"
        name = _object_label(result) if result.combined else f"{result.document.source} {_object_label(result)}"
        lines.append(f"{status} {n} - {name}")
        diagnostic: dict[str, Any] = {}
        if result.violations:
            diagnostic["violations"] = [
                {"policy": v.policy, "enforcement": v.enforcement, "message": v.message} for v in result.violations
            ]
        if result.exceptions:
            diagnostic["exceptions"] = [
                {"policy": e.policy, "rule": e.rule, "message": e.message, "suppressed": list(e.suppressed)}
                for e in result.exceptions
            ]
        if diagnostic:
            lines += tap_yaml_block(diagnostic)
    for error in report.errors:
        n += 1
        lines.append(f"not ok {n} - error {error.code}")
        data: dict[str, Any] = {"message": error.message, "code": error.code}
        if error.location is not None:
            data["at"] = str(error.location)
        lines += tap_yaml_block(data)
    summary = report.summary()
    lines.append(
        f"# {summary['objects']} objects, {summary['deny']} deny, {summary['warn']} warn, "
        f"{summary['dryrun']} dryrun, {_exceptions(summary)}{summary['errors']} errors: {report.verdict}"
    )
    return "\n".join(lines)


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def workflow_command(
    level: str, message: str, *, file: str | None, line: int = 0, col: int = 0, title: str = ""
) -> str:
    """A GitHub Actions workflow command (``::error file=...,line=...::message``), escaped
    as https://docs.github.com/actions/using-workflows/workflow-commands-for-github-actions says."""
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
        if line:
            props.append(f"line={line}")
        if col:
            props.append(f"col={col}")
    if title:
        props.append(f"title={_escape_property(title)}")
    head = f"::{level} {','.join(props)}" if props else f"::{level}"
    return f"{head}::{_escape_data(message)}"


_GITHUB_LEVEL = {"deny": "error", "warn": "warning", "dryrun": "notice"}


def render_github(report: CheckReport) -> str:
    """``kubegate check`` as GitHub Actions workflow commands (see the module docstring)."""
    lines = []
    for result in report.results:
        doc = result.document
        file = None if result.combined else doc.source
        for v in result.violations:
            lines.append(
                workflow_command(
                    _GITHUB_LEVEL[v.enforcement],
                    f"{_object_label(result)}: {v.message}",
                    file=file,
                    line=doc.line,
                    title=f"kubegate {v.enforcement}: {v.policy}",
                )
            )
        for e in result.exceptions:
            suppressed = "".join(f"\nsuppressed {e.rule}: {m}" for m in e.suppressed)
            lines.append(
                workflow_command(
                    "notice",
                    f"{_object_label(result)}: {e.message}{suppressed}",
                    file=file,
                    line=doc.line,
                    title=f"kubegate exception: {e.policy}",
                )
            )
    for error in report.errors:
        loc = error.location
        lines.append(
            workflow_command(
                "error",
                error.message,
                file=loc.file if loc else None,
                line=loc.line if loc else 0,
                col=loc.column if loc else 0,
                title=f"kubegate {error.code}",
            )
        )
    s = report.summary()
    lines.append(
        f"kubegate: {s['objects']} objects checked against {s['policies']} policies: {s['deny']} deny, "
        f"{s['warn']} warn, {s['dryrun']} dryrun, {_exceptions(s)}{s['errors']} errors -- {report.verdict}"
    )
    return "\n".join(lines)


def render_verify_junit(results: Sequence[Any], errors: Sequence[KubegateError] = ()) -> str:
    """``kubegate verify`` results (:class:`~kubegate.cli.suites.CaseResult` with
    ``duration_ms``) as JUnit XML: one ``<testsuite>`` per suite file."""
    root = ET.Element("testsuites", name="kubegate verify")
    by_suite: dict[str, list[Any]] = {}
    for r in results:
        by_suite.setdefault(r.suite, []).append(r)
    totals = {"tests": 0, "failures": 0, "skipped": 0}
    for suite_path, cases in by_suite.items():
        failed = sum(1 for c in cases if not c.passed and not c.skipped)
        skipped = sum(1 for c in cases if c.skipped)
        suite = ET.SubElement(root, "testsuite", name=suite_path, tests=str(len(cases)), failures=str(failed))
        suite.set("errors", "0")
        suite.set("skipped", str(skipped))
        suite.set("time", f"{sum(c.duration_ms for c in cases) / 1000:.3f}")
        for c in cases:
            case = ET.SubElement(suite, "testcase", name=f"{c.test}/{c.case}" if c.case else c.test)
            case.set("classname", suite_path)
            case.set("time", f"{c.duration_ms / 1000:.3f}")
            if c.skipped:
                ET.SubElement(case, "skipped")
            elif not c.passed:
                ET.SubElement(case, "failure", message=c.message or "failed", type="assertion").text = c.message
        totals["tests"] += len(cases)
        totals["failures"] += failed
        totals["skipped"] += skipped
    if errors:
        root.append(_errors_suite(errors, "kubegate errors"))
    root.set("tests", str(totals["tests"] + len(errors)))
    root.set("failures", str(totals["failures"]))
    root.set("errors", str(len(errors)))
    root.set("skipped", str(totals["skipped"]))
    return _xml(root)
