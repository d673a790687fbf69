"""The declared builtin table (OPA's capabilities file) and its lookup."""

from __future__ import annotations

import dataclasses

import pytest

from kubegate.evaluator.builtins.signatures import (
    CAPABILITIES_VERSION,
    SIGNATURES,
    Signature,
    arity,
    describe_args,
    lookup,
)
from kubegate.evaluator.types import ANY, Type, accepts, compatible, describe, type_of
from kubegate.evaluator.values import Set

# Builtins in OPA's capabilities/v1.20.2.json, deprecated ones included.
CAPABILITIES_COUNT = 206

DEPRECATED = {
    "all",
    "any",
    "cast_array",
    "cast_boolean",
    "cast_null",
    "cast_object",
    "cast_set",
    "cast_string",
    "net.cidr_overlap",
    "re_match",
    "set_diff",
}

NONDETERMINISTIC = {
    "http.send",
    "io.jwt.decode_verify",
    "io.jwt.encode_sign",
    "io.jwt.encode_sign_raw",
    "net.lookup_ip_addr",
    "opa.runtime",
    "rand.intn",
    "time.now_ns",
    "uuid.rfc4122",
}

INFIX = {
    "and": "&",
    "assign": ":=",
    "div": "/",
    "eq": "=",
    "equal": "==",
    "gt": ">",
    "gte": ">=",
    "internal.member_2": "in",
    "internal.member_3": "in",
    "lt": "<",
    "lte": "<=",
    "minus": "-",
    "mul": "*",
    "neq": "!=",
    "or": "|",
    "plus": "+",
    "rem": "%",
}


def all_types(sig: Signature) -> list[Type]:
    types = list(sig.args)
    if sig.result is not None:
        types.append(sig.result)
    if sig.variadic is not None:
        types.append(sig.variadic)
    return types


def test_table_covers_the_capabilities_file() -> None:
    assert CAPABILITIES_VERSION == "v1.20.2"
    assert len(SIGNATURES) >= CAPABILITIES_COUNT
    assert list(SIGNATURES) == sorted(SIGNATURES)  # transcribed in the file's order
    assert all(name == sig.name for name, sig in SIGNATURES.items())


def test_marks() -> None:
    assert {n for n, s in SIGNATURES.items() if s.deprecated} == DEPRECATED
    assert {n for n, s in SIGNATURES.items() if s.nondeterministic} == NONDETERMINISTIC
    assert {n: s.infix for n, s in SIGNATURES.items() if s.infix} == INFIX
    assert [n for n, s in SIGNATURES.items() if s.relation] == ["walk"]
    assert [n for n, s in SIGNATURES.items() if s.variadic is not None] == ["print"]
    assert {n for n, s in SIGNATURES.items() if s.result is None} == {"print", "internal.print", "internal.test_case"}


@pytest.mark.parametrize(
    ("name", "args", "result"),
    [
        ("count", "(any<string, array[any], object[any: any], set[any]>)", "number"),
        ("concat", "(string, any<array[string], set[string]>)", "string"),
        ("sprintf", "(string, array[any])", "string"),
        ("startswith", "(string, string)", "boolean"),
        ("object.get", "(object[any: any], any, any)", "any"),
        (
            "json.marshal_with_options",
            "(any, object<indent: string, prefix: string, pretty: boolean>[string: any])",
            "string",
        ),
        ("json.patch", "(any, array[object<op: string, path: any>[any: any]])", "any"),
        ("glob.match", "(string, any<null, array[string]>, string)", "boolean"),
        ("time.date", "(any<number, array<number, string>>)", "array<number, number, number>"),
        ("minus", "(any<number, set[any]>, any<number, set[any]>)", "any<number, set[any]>"),
        ("walk", "(any)", "array<array[any], any>"),
        ("io.jwt.decode", "(string)", "array<object[any: any], object[any: any], string>"),
        ("net.cidr_merge", "(any<array[any<string>], set[string]>)", "set[string]"),
        ("to_number", "(any<null, boolean, number, string>)", "number"),
        ("time.now_ns", "()", "number"),
        ("print", "(any...)", "???"),
    ],
)
def test_well_known_signatures(name: str, args: str, result: str) -> None:
    sig = SIGNATURES[name]
    assert describe_args(sig) == args
    assert describe(sig.result) == result


def test_arity() -> None:
    assert arity(SIGNATURES["count"]) == 1
    assert arity(SIGNATURES["internal.member_3"]) == 3
    assert arity(SIGNATURES["regex.template_match"]) == 4
    assert arity(SIGNATURES["time.now_ns"]) == 0
    assert arity(SIGNATURES["print"]) == 0


def test_lookup_offers_deprecated_builtins_to_v0_only() -> None:
    assert lookup("count") is SIGNATURES["count"]
    assert lookup("count", "v0") is SIGNATURES["count"]
    for name in DEPRECATED:
        assert lookup(name) is None
        assert lookup(name, "v1") is None
        sig = lookup(name, "v0")
        assert sig is not None and sig.deprecated
    assert lookup("no.such.builtin") is None
    assert lookup("no.such.builtin", "v0") is None
    with pytest.raises(ValueError, match="unknown Rego version"):
        lookup("count", "v2")


def test_every_declared_type_is_describable_and_unifies_with_itself() -> None:
    for sig in SIGNATURES.values():
        for t in all_types(sig):
            text = describe(t)
            assert text and "???" not in text, sig.name
            assert compatible(t, t), sig.name
            assert compatible(t, ANY) and compatible(ANY, t), sig.name


def test_declared_types_check_constant_arguments() -> None:
    count = SIGNATURES["count"].args[0]
    assert all(accepts(count, v) for v in ("abc", [1], {"a": 1}, Set([1])))
    assert not accepts(count, 1)
    assert not compatible(count, type_of(1))
    concat = SIGNATURES["concat"].args[1]
    assert accepts(concat, ["a", "b"])
    assert not accepts(concat, ["a", 1])
    options = SIGNATURES["json.marshal_with_options"].args[1]
    assert accepts(options, {"pretty": True, "indent": "\t"})
    assert not accepts(options, {"pretty": "yes"})


def test_signatures_are_immutable() -> None:
    sig = SIGNATURES["count"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        sig.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        SIGNATURES["count"] = sig  # type: ignore[index]
