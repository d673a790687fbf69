"""The regopy backend: compile errors with locations, input escaping, result decoding, threads."""

from __future__ import annotations

import threading

import pytest

from kubegate.engine.backend import UNDEFINED, ModuleSource
from kubegate.engine.regopy_backend import RegopyBackend, _decode_string, parse_backend_errors, parse_node_error
from kubegate.errors import EvaluationError, RegoCompileError

GOOD = ModuleSource("good.rego", "package t\n\necho := input\n\nn := count(input.s)\n")


BACKEND = RegopyBackend()


class Unit:
    """A compiled unit with a query shortcut for these tests."""

    def __init__(self, *modules: ModuleSource, entrypoints: tuple[str, ...] = ("t/echo",)) -> None:
        self.compiled = BACKEND.compile(list(modules), {}, list(entrypoints))

    def run(self, value: object, entrypoint: str = "t/echo") -> object:
        ev = BACKEND.evaluator()
        ev.set_input(ev.prepare_input(value))
        return ev.query(self.compiled, entrypoint)


@pytest.mark.parametrize(
    "value",
    [
        {"s": 'quote " backslash \\ newline \n tab \t nul \x00 é 漢'},
        {"nested": [1, -2, 3.25, None, True, False, {'k"ey': []}]},
        {"": "", "big": 12345678901234567},
    ],
)
def test_input_round_trips_through_the_backend(value: object) -> None:
    assert Unit(GOOD).run(value) == value


def test_undefined_is_a_sentinel() -> None:
    unit = Unit(ModuleSource("m.rego", "package t\np := 1 if { input.x }\n"), entrypoints=("t/p",))
    assert unit.run({}, "t/p") is UNDEFINED


def test_input_that_is_not_json_is_an_evaluation_error() -> None:
    with pytest.raises(EvaluationError):
        BACKEND.evaluator().prepare_input({"x": object()})


def test_compile_error_names_module_line_and_column() -> None:
    bad = ModuleSource("bad.rego", 'package t\n\np := 1 if {\n\tstartswith(input.repos[_], "x")\n}\n')
    with pytest.raises(RegoCompileError) as info:
        RegopyBackend().compile([GOOD, bad], {}, ["t/echo", "t/p"])
    loc = info.value.location
    assert loc is not None and loc.file == "bad.rego" and loc.line == 4


def test_error_results_raise_instead_of_crashing() -> None:
    # rego-cpp reports a missing function only when evaluating (and flags the
    # result as ok); kubegate's checker normally stops this before the backend.
    module = ModuleSource("m.rego", "package t\n\np := 1 if {\n\tnot_a_function(1)\n}\n")
    with pytest.raises(EvaluationError, match="Function not found"):
        Unit(module, entrypoints=("t/p",)).run({}, "t/p")


def test_is_builtin() -> None:
    backend = RegopyBackend()
    assert backend.is_builtin("regex.match") and backend.is_builtin("count")
    assert not backend.is_builtin("re_match") and not backend.is_builtin("no.such.thing")


def test_unparseable_text_is_a_located_compile_error() -> None:
    bad = ModuleSource("bad.rego", 'package t\nr := [v | some k, v in {"a": 1}]\n')
    with pytest.raises(RegoCompileError) as info:
        RegopyBackend().compile([bad], {}, ["t/r"])
    loc = info.value.location
    assert loc is not None and loc.file == "bad.rego" and loc.line == 2


def test_parse_backend_error_text() -> None:
    text = "Errors:\nInvalid rule reference\n-- m.rego:3:5\n\tre_match(x)\n    ~\n\n-- \nwellformed_error\n"
    err = parse_backend_errors(text, {"m.rego": "package t\n\np { re_match(x) }\n"})
    assert err.message == "Invalid rule reference"
    assert err.location is not None and (err.location.line, err.location.column) == (3, 5)
    assert err.details == {"backendCode": "wellformed_error"}


def test_parse_node_error_offsets() -> None:
    source = "package t\nabc := 1\n"
    err = parse_node_error("(error 5:m.rego|14|3\n (errormsg 9:Bad thing)", {"m.rego": source})
    assert err.message == "Bad thing"
    assert err.location is not None and (err.location.line, err.location.column) == (2, 5)


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ('"plain"', "plain"),
        ('"with \\"escapes\\" \\\\ \\n"', 'with "escapes" \\ \n'),
        ('"sprintf left "raw" quotes"', 'sprintf left "raw" quotes'),
        ('"upper-cased \\N escape"', "upper-cased N escape"),
        ('"unicode \\u00e9"', "unicode é"),
    ],
)
def test_decode_backend_strings(raw: str, want: str) -> None:
    assert _decode_string(raw) == want


def test_threads_evaluate_concurrently_with_their_own_evaluators() -> None:
    policy = Unit(GOOD, entrypoints=("t/echo", "t/n")).compiled
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            ev = BACKEND.evaluator()
            for j in range(200):
                value = {"s": f"thread-{i}-{j}", "i": i}
                ev.set_input(ev.prepare_input(value))
                assert ev.query(policy, "t/echo") == value
                assert ev.query(policy, "t/n") == len(value["s"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
