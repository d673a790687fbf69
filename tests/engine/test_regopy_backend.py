"""The regopy backend: compile errors with locations, input escaping, result decoding, threads."""

from __future__ import annotations

import threading

import pytest

from kubegate.engine.backend import UNDEFINED, ModuleSource
from kubegate.engine.regopy_backend import RegopyBackend, _decode_string, parse_backend_errors, parse_node_error
from kubegate.errors import EvaluationError, RegoCompileError

GOOD = ModuleSource("good.rego", "package t\n\necho := input\n\nn := count(input.s)\n")


def compiled(*modules: ModuleSource, entrypoints: tuple[str, ...] = ("t/echo",)):  # type: ignore[no-untyped-def]
    return RegopyBackend().compile(list(modules), {}, list(entrypoints))


@pytest.mark.parametrize(
    "value",
    [
        {"s": 'quote " backslash \\ newline \n tab \t nul \x00 é 漢'},
        {"nested": [1, -2, 3.25, None, True, False, {'k"ey': []}]},
        {"": "", "big": 12345678901234567},
    ],
)
def test_input_round_trips_through_the_backend(value: object) -> None:
    ev = compiled(GOOD).evaluator()
    ev.set_input(ev.prepare_input(value))
    assert ev.query("t/echo") == value


def test_undefined_is_a_sentinel() -> None:
    ev = compiled(ModuleSource("m.rego", "package t\np := 1 if { input.x }\n"), entrypoints=("t/p",)).evaluator()
    ev.set_input(ev.prepare_input({}))
    assert ev.query("t/p") is UNDEFINED


def test_input_that_is_not_json_is_an_evaluation_error() -> None:
    ev = compiled(GOOD).evaluator()
    with pytest.raises(EvaluationError):
        ev.prepare_input({"x": object()})


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
    ev = RegopyBackend().compile([module], {}, ["t/p"]).evaluator()
    ev.set_input(ev.prepare_input({}))
    with pytest.raises(EvaluationError, match="Function not found"):
        ev.query("t/p")


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
    policy = compiled(GOOD, entrypoints=("t/echo", "t/n"))
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            ev = policy.evaluator()
            for j in range(200):
                value = {"s": f"thread-{i}-{j}", "i": i}
                ev.set_input(ev.prepare_input(value))
                assert ev.query("t/echo") == value
                assert ev.query("t/n") == len(value["s"])
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
