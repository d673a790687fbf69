"""Every builtin OPA 1.x declares is implemented, planned by the compiler, or
listed as unsupported with a reason; calling an unsupported one is a located
load-time error naming it, never a crash."""

from __future__ import annotations

import pytest

from kubegate.errors import KubegateError
from kubegate.evaluator.builtins import IMPLEMENTATIONS, PLANNED, UNSUPPORTED
from kubegate.evaluator.builtins.signatures import SIGNATURES
from kubegate.evaluator.query import prepare_query


def test_every_declared_builtin_is_accounted_for() -> None:
    missing = sorted(set(SIGNATURES) - set(IMPLEMENTATIONS) - PLANNED - set(UNSUPPORTED))
    assert missing == []
    assert not set(UNSUPPORTED) & set(IMPLEMENTATIONS)
    assert all(reason for reason in UNSUPPORTED.values())


def test_no_implementation_without_a_declaration() -> None:
    assert sorted(set(IMPLEMENTATIONS) - set(SIGNATURES)) == []


@pytest.mark.parametrize("name", sorted(n for n in UNSUPPORTED if not n.startswith("internal.")))
def test_calling_an_unsupported_builtin_is_a_load_error_naming_it(name: str) -> None:
    arity = len(SIGNATURES[name].args)
    args = ", ".join(["1"] * arity)
    module = f"package t\n\np := {name}({args})\n"
    with pytest.raises(KubegateError) as info:
        prepare_query("data.t.p", modules={"t.rego": module})
    assert info.value.code == "rego_type_error"
    assert name in info.value.message and "not supported" in info.value.message
    assert info.value.location is not None and info.value.location.line == 3


def test_guarded_implementations_are_unwrapped_exactly_once() -> None:
    """The call path calls a guarded builtin's function directly and applies
    guard_error itself; an implementation whose outer wrapper merely copied the
    marker (functools.wraps copies __dict__) would lose that wrapper's logic."""
    import kubegate.evaluator.program  # noqa: F401  (registers every family)
    from kubegate.evaluator.builtins import IMPLEMENTATIONS

    guarded = {n: b.impl for n, b in IMPLEMENTATIONS.items() if hasattr(b.impl, "__kubegate_unguarded__")}
    assert len(guarded) > 50
    for name, impl in guarded.items():
        assert impl.__wrapped__ is impl.__kubegate_unguarded__, name
