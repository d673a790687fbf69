"""Run Gatekeeper test suites (``gator verify`` format).

A suite (``kind: Suite``, ``apiVersion: test.gatekeeper.sh/v1alpha1``) lists
tests; a test names a ConstraintTemplate file and a Constraint file (paths
relative to the suite) and cases; a case names the object to review, optional
inventory files, and assertions ``violations: yes|no|N`` with an optional
``message`` regular expression (https://open-policy-agent.github.io/gatekeeper/website/docs/gator#writing-test-suites).
Semantics follow gatekeeper ``pkg/gator/verify``: the object is reviewed as
gator does (no operation unless it is an ``AdmissionReview``), every
violation counts whatever its enforcement action, ``invalid: true`` tests
expect the constraint to fail its schema.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from kubegate.engine.backend import Backend
from kubegate.engine.inputs import build_review
from kubegate.engine.prepared import PreparedPolicySet, prepare
from kubegate.errors import InputError, KubegateError, Location
from kubegate.policy.catalog import build_catalog
from kubegate.policy.documents import iter_input_files, load_file
from kubegate.policy.expansion import ExpansionSystem
from kubegate.policy.inventory import Inventory
from kubegate.policy.loader import load_policy_paths
from kubegate.policy.match import split_api_version
from kubegate.policy.review import ADMISSION_GROUP, review_from_object

__all__ = ["GATOR_ENFORCEMENT_POINT", "CaseResult", "find_suites", "run_suites"]

SUITE_GROUP = "test.gatekeeper.sh"
GATOR_ENFORCEMENT_POINT = "gator.gatekeeper.sh"


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case (or of a whole test that could not run)."""

    suite: str
    test: str
    case: str
    passed: bool
    skipped: bool = False
    message: str = ""
    duration_ms: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.suite} {self.test}/{self.case}" if self.case else f"{self.suite} {self.test}"


@dataclass(frozen=True)
class Suite:
    path: str
    tests: list[Any]
    skip: bool


def find_suites(paths: Iterable[str]) -> list[Suite]:
    """Finds ``kind: Suite`` documents in files and directories (recursively).

    Raises:
        InputError: a path is missing or a suite file is malformed.
    """
    suites = []
    for path in iter_input_files(paths):
        for doc in load_file(path):
            group, _ = split_api_version(doc.api_version)
            if doc.kind == "Suite" and group == SUITE_GROUP:
                tests = doc.obj.get("tests") or []
                if not isinstance(tests, list):
                    raise InputError("suite tests must be a list", doc.location, code="invalid_suite")
                suites.append(Suite(path, tests, bool(doc.obj.get("skip"))))
    if not suites:
        raise InputError(f"no test suites (kind: Suite) found in {', '.join(paths)}", code="no_suites")
    return sorted(suites, key=lambda s: s.path)


def _violations_spec(value: Any) -> int | str:
    # PyYAML (YAML 1.1) reads yes/no as booleans; gator's YAML 1.2 reader keeps strings.
    if value is True:
        return "yes"
    if value is False:
        return "no"
    if value is None:
        return "yes"
    if isinstance(value, int) and value >= 0:
        return value
    if isinstance(value, str) and value in ("yes", "no"):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise InputError(
        f'assertion violations must be a nonnegative integer, "yes" or "no", got {value!r}', code="invalid_suite"
    )


def check_assertion(assertion: Mapping[str, Any], messages: list[str]) -> str | None:
    """Returns a failure description, or ``None`` when the assertion holds."""
    want = _violations_spec(assertion.get("violations"))
    pattern = assertion.get("message")
    if pattern is not None:
        try:
            regex = re.compile(str(pattern))
        except re.error as exc:
            raise InputError(
                f"assertion message {pattern!r} is not a valid regular expression: {exc}", code="invalid_suite"
            ) from None
        matching = sum(1 for m in messages if regex.search(m))
        what = f"violations containing {pattern!r}"
    else:
        matching = len(messages)
        what = "violations"
    if want == "yes" and matching == 0:
        return f"got 0 {what} but want at least 1; got messages {messages}"
    if want == "no" and matching > 0:
        return f"got {matching} {what} but want none; got messages {messages}"
    if isinstance(want, int) and matching != want:
        return f"got {matching} {what} but want exactly {want}; got messages {messages}"
    return None


class _TestRunner:
    def __init__(
        self,
        suite: Suite,
        test: Mapping[str, Any],
        backend: Backend,
        selected: Callable[[str], bool],
        engine: str = "rego",
    ) -> None:
        self.engine = engine
        self.suite = suite
        self.test = test
        self.name = str(test.get("name", "?"))
        self.dir = os.path.dirname(suite.path)
        self.backend = backend
        self.selected = selected
        self.started = time.perf_counter()

    def path(self, rel: Any) -> str:
        if not isinstance(rel, str) or not rel:
            raise InputError(
                f"test {self.name}: a file path is missing", Location(self.suite.path), code="invalid_suite"
            )
        return os.path.join(self.dir, rel)

    def result(self, case: str, passed: bool, message: str = "", skipped: bool = False) -> CaseResult:
        """A case's result, timed from the previous result (the first includes loading the test)."""
        now = time.perf_counter()
        elapsed, self.started = (now - self.started) * 1000, now
        return CaseResult(self.suite.path, self.name, case, passed, skipped, message, round(elapsed, 3))

    def run(self) -> Iterator[CaseResult]:
        cases = [c for c in self.test.get("cases") or [] if self.selected(self.label(c))]
        if not cases and not self.selected(f"{self.suite.path} {self.name}"):
            return
        if self.test.get("skip") or self.suite.skip:
            for c in cases:
                yield self.result(str(c.get("name", "?")), True, skipped=True)
            return
        try:
            paths = [self.path(self.test.get("template")), self.path(self.test.get("constraint"))]
            if self.test.get("expansion"):
                # gator: the test's ExpansionTemplates; no built-in ones in a suite.
                paths.append(self.path(self.test.get("expansion")))
            sources = load_policy_paths(paths)
            catalog = build_catalog(sources, enforcement_point=GATOR_ENFORCEMENT_POINT, template_engine=self.engine)
        except KubegateError as exc:
            yield self.result("", False, str(exc))
            return
        if self.test.get("invalid"):
            codes = {e.code for e in catalog.errors}
            if "constraint_parameters_invalid" in codes:
                yield self.result("", True)
            else:
                got = "; ".join(str(e) for e in catalog.errors) or "no error"
                yield self.result("", False, f"expected the constraint to fail its schema, got: {got}")
            return
        if catalog.errors:
            yield self.result("", False, "; ".join(str(e) for e in catalog.errors))
            return
        try:
            base = prepare(catalog, self.backend)
        except KubegateError as exc:
            yield self.result("", False, str(exc))
            return
        if base.errors:
            yield self.result("", False, "; ".join(str(e) for e in base.errors))
            return
        for case in cases:
            name = str(case.get("name", "?"))
            if case.get("skip"):
                yield self.result(name, True, skipped=True)
                continue
            try:
                failure = self.case(base, case)
            except KubegateError as exc:
                failure = str(exc)
            yield self.result(name, failure is None, failure or "")

    def label(self, case: Any) -> str:
        """``suite-path test/case``, what ``--run`` matches."""
        name = str(case.get("name", "?")) if isinstance(case, Mapping) else "?"
        return f"{self.suite.path} {self.name}/{name}"

    def case(self, base: PreparedPolicySet, case: Mapping[str, Any]) -> str | None:
        assertions = case.get("assertions") or []
        if not assertions:
            return "assertions must be non-empty"
        docs = load_file(self.path(case.get("object")))
        if len(docs) != 1:
            return f"{case.get('object')} defines {len(docs)} objects, expected 1"
        obj = docs[0].obj
        prepared = base
        inventory_files = case.get("inventory") or []
        if inventory_files:
            objects = [d.obj for f in inventory_files for d in load_file(self.path(f))]
            prepared = prepare(base.catalog, self.backend, Inventory.from_objects(objects), previous=base)
        group, _ = split_api_version(str(obj.get("apiVersion", "")))
        if obj.get("kind") == "AdmissionReview" and group == ADMISSION_GROUP:
            review = build_review(obj)
            prepared = replace(prepared, expansion=ExpansionSystem())  # gator expands objects only
        else:
            review = review_from_object(obj, operation="")
        result = prepared.review(review)
        if result.skipped:
            # As gator: a namespaceSelector needing a Namespace the case does not provide is an error.
            return "; ".join(f"policy {s.policy} could not decide: {s.reason}" for s in result.skipped)
        return _assertions(assertions, [v.message for v in result.violations])


def _assertions(assertions: Any, messages: list[str]) -> str | None:
    """The first failing assertion's message, or ``None``."""
    for assertion in assertions:
        if not isinstance(assertion, Mapping):
            return "each assertion must be an object"
        failure = check_assertion(assertion, messages)
        if failure:
            return failure
    return None


def run_suites(
    suites: Iterable[Suite],
    backend: Backend,
    selected: Callable[[str], bool] = lambda label: True,
    engine: str = "rego",
) -> Iterator[CaseResult]:
    """Runs every case of every suite, yielding results as they come.

    Args:
        selected: which cases run, by label ``suite-path test/case`` (``kubegate
            verify --run``); a test whose cases are all left out is not loaded.
        engine: ``rego``, or ``cel`` to evaluate templates that have a
            K8sNativeValidation block through their CEL (Gatekeeper's default is
            Rego; a template with only CEL always runs through CEL).
    """
    for suite in suites:
        for test in suite.tests:
            if not isinstance(test, Mapping):
                yield CaseResult(suite.path, "?", "", False, message="each test must be an object")
                continue
            yield from _TestRunner(suite, test, backend, selected, engine).run()
