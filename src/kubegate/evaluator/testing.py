"""Running Rego unit tests, as ``opa test`` does
(https://www.openpolicyagent.org/docs/latest/policy-testing/).

A test is a rule whose name starts with ``test_``; one starting with
``todo_`` is reported as skipped and not run. Functions are never tests.
:func:`run_tests` plans every module once into a shared
:class:`~kubegate.evaluator.program.Program`, then evaluates each test's
document, ``data.<package>.<rule>``, with its own
:class:`~kubegate.evaluator.query.PreparedQuery`, its own time limit and its
own ``print`` capture. Tests run in file-name order, rules in source order.

Outcomes:

``pass``
    the test's value is defined and not ``false``. A test whose head has
    more segments after its name (``test_cases[name] := ok``) is an object of
    cases, as in OPA: it passes when every case is ``true``.
``fail``
    undefined, ``false``, or a case of a test object that is not ``true``.
``error``
    evaluating it raised (``eval_conflict_error``, ``eval_type_error``,
    ``eval_cancel_error`` past the time limit, ``eval_builtin_error`` ...).
``skip``
    a ``todo_`` rule.

As in OPA's runner, complete test rules defined more than once under one
name are separate tests: the second is named ``test_x#01``, the third
``test_x#02`` and so on, so each body passes or fails on its own.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from kubegate.errors import KubegateError, Location, UsageError
from kubegate.evaluator.program import Program
from kubegate.evaluator.query import PreparedQuery
from kubegate.rego import ast
from kubegate.rego.parser import parse_body

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "SKIP_PREFIX",
    "TEST_PREFIX",
    "Outcome",
    "TestCase",
    "TestReport",
    "TestResult",
    "discover_tests",
    "number_duplicate_tests",
    "run_tests",
]

TEST_PREFIX = "test_"
"""Rules named with this prefix are tests."""

SKIP_PREFIX = "todo_"
"""Rules named with this prefix are tests to be written: reported as skipped."""

DEFAULT_TIMEOUT_S = 5.0
"""Time limit of each test, in seconds (``opa test``'s default)."""

Outcome = Literal["pass", "fail", "error", "skip"]


@dataclass(frozen=True, slots=True)
class TestCase:
    """A test found in the modules.

    Attributes:
        package: ``data.`` and the package path (``data.authz``).
        name: the rule's name (``test_allow``, ``test_x#01``; a ref head's
            segments up to the test name: ``users.test_admin``).
        path: the document evaluated, below ``data``.
        location: the rule's location.
        skip: a ``todo_`` rule.
        cases: the rule's head has segments after the test name, so its value
            is an object of cases.
    """

    __test__ = False  # not a pytest test class

    package: str
    name: str
    path: tuple[str, ...]
    location: Location | None
    skip: bool = False
    cases: bool = False

    @property
    def full_name(self) -> str:
        """``data.<package>.<name>``, what ``--run`` matches."""
        return f"{self.package}.{self.name}"


@dataclass(frozen=True, slots=True)
class TestResult:
    """The result of one test.

    Attributes:
        name: the test's name (``test_allow``).
        package: ``data.`` and the package path.
        location: the test rule's location.
        duration_ms: evaluation time in milliseconds (0 for skipped tests).
        outcome: ``pass``, ``fail``, ``error`` or ``skip``.
        output: what the test printed with ``print``, one line per call.
        message: why it did not pass (empty when it passed).
        code: the error code for an ``error`` outcome (``eval_conflict_error``...).
        error_location: where the error happened, when known.
        failed_cases: for a test object, the names of its cases that are not ``true``.
    """

    __test__ = False

    name: str
    package: str
    location: Location | None
    duration_ms: float
    outcome: Outcome
    output: str = ""
    message: str = ""
    code: str | None = None
    error_location: Location | None = None
    failed_cases: tuple[str, ...] = ()

    @property
    def full_name(self) -> str:
        return f"{self.package}.{self.name}"

    @property
    def passed(self) -> bool:
        return self.outcome == "pass"


@dataclass(frozen=True, slots=True)
class TestReport:
    """Every result of one run, in run order."""

    __test__ = False

    results: tuple[TestResult, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)

    @property
    def ok(self) -> bool:
        """No test failed or raised an error (skipped tests do not count)."""
        return all(r.outcome in ("pass", "skip") for r in self.results)


# ------------------------------------------------------------------ discovery


def _head_segments(rule: ast.Rule) -> tuple[list[str], int]:
    """The constant names of a rule's head and how many head segments it has."""
    names = [rule.head.name]
    for seg in rule.head.ref.path:
        if not (isinstance(seg, ast.Scalar) and type(seg.value) is str):
            break
        names.append(seg.value)
    return names, 1 + len(rule.head.ref.path)


def _test_index(names: Sequence[str]) -> int | None:
    for i, name in enumerate(names):
        if name.startswith((TEST_PREFIX, SKIP_PREFIX)):
            return i
    return None


def _is_complete_test(rule: ast.Rule) -> bool:
    return (
        rule.head.args is None
        and rule.head.key is None
        and not rule.head.ref.path
        and not rule.default
        and rule.head.name.startswith(TEST_PREFIX)
    )


def number_duplicate_tests(modules: Sequence[ast.Module]) -> list[ast.Module]:
    """Renames the second and later complete test rules of one name in one
    package to ``name#01``, ``name#02`` ..., as OPA's runner does, so each is
    run on its own (counting in file-name order). Returns the modules in
    file-name order; those without such duplicates are unchanged.
    """
    seen: dict[tuple[tuple[str, ...], str], int] = {}
    out: list[ast.Module] = []
    for module in sorted(modules, key=lambda m: m.file):
        rules: list[ast.Rule] = []
        changed = False
        for rule in module.rules:
            if _is_complete_test(rule):
                key = (module.package.path, rule.head.name)
                n = seen.get(key, 0)
                seen[key] = n + 1
                head = rule.head
                var = head.ref.head
                if n and isinstance(var, ast.Var):
                    ref = replace(head.ref, head=replace(var, name=f"{head.name}#{n:02d}"))
                    rule = replace(rule, head=replace(head, ref=ref))
                    changed = True
            rules.append(rule)
        out.append(replace(module, rules=tuple(rules)) if changed else module)
    return out


def discover_tests(modules: Sequence[ast.Module]) -> list[TestCase]:
    """The tests of ``modules`` in run order: modules by file name, rules in
    source order; a test defined by several rules is listed once, at its first."""
    found: list[TestCase] = []
    seen: set[tuple[str, ...]] = set()
    for module in sorted(modules, key=lambda m: m.file):
        package = ("data", *module.package.path)
        for rule in module.rules:
            if rule.head.args is not None:
                continue
            names, length = _head_segments(rule)
            index = _test_index(names)
            if index is None:
                continue
            path = (*module.package.path, *names[: index + 1])
            if path in seen:
                continue
            seen.add(path)
            found.append(
                TestCase(
                    package=".".join(package),
                    name=".".join(names[: index + 1]),
                    path=path,
                    location=rule.loc,
                    skip=names[index].startswith(SKIP_PREFIX),
                    cases=length > index + 1,
                )
            )
    return found


# ------------------------------------------------------------------ running


def _query_text(path: Sequence[str]) -> str:
    return "data" + "".join(f"[{json.dumps(name, ensure_ascii=False)}]" for name in path)


def _failed_cases(value: Any, prefix: str = "") -> list[str]:
    """The names of the cases of a test object that are not ``true``."""
    if not isinstance(value, dict):
        return [prefix or "(the test)"] if value is not True else []
    if not value:
        return [prefix or "(no cases)"]
    out: list[str] = []
    for k in sorted(value):
        name = f"{prefix}.{k}" if prefix else str(k)
        out.extend(_failed_cases(value[k], name))
    return out


def _seconds(value: float) -> str:
    return f"{value:g}s"


class _Runner:
    def __init__(self, program: Program, *, timeout_s: float | None, strict_builtin_errors: bool) -> None:
        self.program = program
        self.timeout_s = timeout_s or None
        self.strict = strict_builtin_errors

    def run(self, case: TestCase) -> TestResult:
        if case.skip:
            return TestResult(case.name, case.package, case.location, 0.0, "skip", message="todo: not run")
        lines: list[str] = []
        text = _query_text(case.path)
        start = time.perf_counter()
        try:
            query = PreparedQuery(
                self.program,
                parse_body(text),
                text,
                strict_builtin_errors=self.strict,
                print_sink=lines.append,
                timeout_s=self.timeout_s,
            )
            results = query.eval()
        except KubegateError as exc:
            elapsed = (time.perf_counter() - start) * 1000
            message = exc.message
            if exc.code == "eval_cancel_error" and self.timeout_s:
                message = f"timed out after {_seconds(self.timeout_s)}"
            return self._result(case, elapsed, "error", lines, message, exc.code, exc.location)
        except RecursionError:
            elapsed = (time.perf_counter() - start) * 1000
            return self._result(case, elapsed, "error", lines, "value nested too deeply to evaluate", "eval_error")
        except Exception as exc:  # a defect in the evaluator must not end the run
            elapsed = (time.perf_counter() - start) * 1000
            message = f"{type(exc).__name__}: {exc} (this is a kubegate bug)"
            return self._result(case, elapsed, "error", lines, message, "internal_error")
        elapsed = (time.perf_counter() - start) * 1000
        if not results:
            return self._result(case, elapsed, "fail", lines, "the test is undefined")
        value = results[0].expressions[0]
        if case.cases:
            failed = _failed_cases(value)
            if failed:
                result = self._result(case, elapsed, "fail", lines, "failed cases: " + ", ".join(failed))
                return replace(result, failed_cases=tuple(failed))
        elif value is False:
            return self._result(case, elapsed, "fail", lines, "the test is false")
        return self._result(case, elapsed, "pass", lines)

    @staticmethod
    def _result(
        case: TestCase,
        elapsed_ms: float,
        outcome: Outcome,
        lines: list[str],
        message: str = "",
        code: str | None = None,
        error_location: Location | None = None,
    ) -> TestResult:
        return TestResult(
            case.name,
            case.package,
            case.location,
            elapsed_ms,
            outcome,
            output="\n".join(lines),
            message=message,
            code=code,
            error_location=error_location,
        )


def _compile_filter(pattern: str | None) -> Callable[[str], bool]:
    if not pattern:
        return lambda _name: True
    try:
        regex = re.compile(pattern)
    except re.error as exc:
        raise UsageError(f"--run: invalid regular expression {pattern!r}: {exc}", code="invalid_regex") from None
    return lambda name: regex.search(name) is not None


def run_tests(
    modules: Sequence[ast.Module],
    data: Mapping[str, Any] | None = None,
    *,
    run: str | None = None,
    timeout_s: float | None = DEFAULT_TIMEOUT_S,
    strict_builtin_errors: bool = False,
    on_result: Callable[[TestResult], None] | None = None,
) -> TestReport:
    """Plans ``modules`` over ``data`` once and runs their tests.

    Args:
        modules: parsed modules (tests and the policies they test).
        data: the base document.
        run: a regular expression (Python :mod:`re`, searched like OPA's
            ``--run``) over ``data.<package>.<name>``: only matching tests run.
        timeout_s: time limit of each test in seconds; ``None`` or 0 for none.
        strict_builtin_errors: builtin errors are test errors, not undefined.
        on_result: called with each result as soon as it is known.

    Returns:
        The results in run order.

    Raises:
        RegoCompileError | ErrorList: the modules do not compile.
        UsageError: ``invalid_regex``.
    """
    matches = _compile_filter(run)
    modules = number_duplicate_tests(modules)
    program = Program(list(modules), data if data is not None else {})
    runner = _Runner(program, timeout_s=timeout_s, strict_builtin_errors=strict_builtin_errors)
    results: list[TestResult] = []
    for case in discover_tests(modules):
        if not matches(case.full_name):
            continue
        result = runner.run(case)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return TestReport(tuple(results))
