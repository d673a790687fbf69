"""Library overloads that differ only in their carrier types: checked exactly,
evaluated through one dispatching registration (kubegate.cel.overloads)."""

from __future__ import annotations

from typing import Any

import pytest
from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.overloads import Function, Library, Overload, checking_extension, runtime_extension

Q, S = "kubernetes.Quantity", "kubernetes.Semver"
T = cel.Type


def _make(name: str) -> Any:
    return lambda text: carriers.carrier(name, text)


def _greater(label: str) -> Any:
    return lambda a, b: f"{label}:{carriers.canonical(a) > carriers.canonical(b)}"


LIBRARY = Library(
    "test.carriers",
    (
        Function("q", (Overload("string_to_q", Q, (T.STRING,), _make(Q)),)),
        Function("s", (Overload("string_to_s", S, (T.STRING,), _make(S)),)),
        Function(
            "gt",
            (
                Overload("q_gt", T.STRING, (Q, Q), _greater("q"), member=True),
                Overload("s_gt", T.STRING, (S, S), _greater("s"), member=True),
            ),
        ),
        Function(
            "string",
            (
                Overload("q_string", T.STRING, (Q,), lambda m: "q " + carriers.canonical(m)),
                Overload("s_string", T.STRING, (S,), lambda m: "s " + carriers.canonical(m)),
            ),
        ),
    ),
)


@pytest.fixture(scope="module")
def envs() -> tuple[Any, Any]:
    def env(extension: Any) -> Any:
        return cel.NewEnv(variables={"o": T.DYN}, extensions=[extension], descriptor_pool=carriers.POOL)

    return env(checking_extension(LIBRARY)), env(runtime_extension([LIBRARY]))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("q('2').gt(q('1'))", "q:True"),
        ("s('1').gt(s('2'))", "s:False"),
        ("string(s('1.0.0'))", "s 1.0.0"),
        ("string(q('5'))", "q 5"),
        ("string(7)", "7"),  # the standard overloads are untouched
    ],
)
def test_each_overload_runs_its_own_implementation(envs: tuple[Any, Any], text: str, want: str) -> None:
    checking, runtime = envs
    checking.compile(text)
    value = runtime.compile(text, disable_check=True).eval(data={"o": None})
    assert value.plain_value() == want


def test_mixed_carriers_are_a_type_error_and_at_run_time_an_error_value(envs: tuple[Any, Any]) -> None:
    checking, runtime = envs
    with pytest.raises(RuntimeError, match="found no matching overload for 'gt'"):
        checking.compile("q('1').gt(s('1'))")
    # Through dyn the checker cannot tell; the dispatcher refuses at run time.
    value = runtime.compile("o.a.gt(o.b)", disable_check=True).eval(
        data={"o": {"a": carriers.carrier(Q, "1"), "b": carriers.carrier(S, "1")}}
    )
    assert value.type() == cel.Type.ERROR
    assert "no such overload: gt(kubernetes.Quantity, kubernetes.Semver)" in value.plain_value()
