"""The CEL AST decoded from ``Expression.serialize()``: node kinds, positions, types."""

from __future__ import annotations

import pytest

from kubegate.cel.ast import (
    Call,
    CelType,
    Comprehension,
    CreateList,
    CreateMap,
    CreateStruct,
    Ident,
    Literal,
    Node,
    Select,
    parse,
    walk,
)
from kubegate.cel.env import environment

ENV = environment(["object"])
INTERNAL = environment(["object"], internal=True)


def ast(text: str, *, checked: bool = True, internal: bool = False) -> Node:
    env = INTERNAL if internal else ENV
    return parse(env.compile(text, disable_check=not checked), text)


def test_calls_selects_and_literals_keep_their_positions_and_types() -> None:
    node = ast("object.spec.replicas <= 5")
    assert isinstance(node, Call) and node.function == "_<=_" and node.overloads == ("less_equals_int64",)
    assert (node.line, node.col, node.offset) == (1, 22, 21)  # the operator
    select, five = node.args
    assert isinstance(select, Select) and select.field == "replicas" and not select.test_only
    assert (select.line, select.col) == (1, 12)  # the dot
    assert isinstance(select.operand, Select) and isinstance(select.operand.operand, Ident)
    assert select.operand.operand.name == "object" and select.type == CelType("dyn")
    assert isinstance(five, Literal) and five.kind == "int" and five.value == 5 and five.type == CelType("int")


def test_positions_count_code_points_and_lines() -> None:
    node = ast("'héé' + object.x\n  + 'b'")
    assert isinstance(node, Call) and (node.line, node.col) == (2, 3)
    inner = node.args[0]
    assert isinstance(inner, Call) and (inner.line, inner.col) == (1, 7)  # after 5 code points and a space


@pytest.mark.parametrize(
    ("text", "kind", "value"),
    [
        ("null", "null", None),
        ("true", "bool", True),
        ("-3", "int", -3),
        ("3u", "uint", 3),
        ("2.5", "double", 2.5),
        ("'a'", "string", "a"),
        ("b'\\x00a'", "bytes", b"\x00a"),
    ],
)
def test_literals(text: str, kind: str, value: object) -> None:
    node = ast(text)
    assert isinstance(node, Literal) and node.kind == kind and node.value == value and type(node.value) is type(value)


def test_aggregates_and_their_types() -> None:
    lst = ast("[1, ?optional.of(2)]")
    assert isinstance(lst, CreateList) and lst.optional == (1,) and str(lst.type) == "list(int)"
    assert str(lst.elements[1].type) == "optional_type(int)"
    mp = ast("{'a': 1, 'b': 'c'}")
    assert isinstance(mp, CreateMap) and [e.key.value for e in mp.entries] == ["a", "b"]  # type: ignore[attr-defined]
    assert str(mp.type) == "map(string, dyn)"
    st = ast("kubernetes.Quantity{canonical: '5'}")
    assert isinstance(st, CreateStruct) and st.message_name == "kubernetes.Quantity"
    assert [f.name for f in st.fields] == ["canonical"] and str(st.type) == "kubernetes.Quantity"


def test_macros_are_expanded_comprehensions() -> None:
    node = ast("object.items.map(x, x + 1)")
    assert isinstance(node, Comprehension) and node.iter_var == "x" and node.accu_var == "@result"
    assert isinstance(node.iter_range, Select) and isinstance(node.accu_init, CreateList) and not node.is_bind
    assert str(node.type) == "list(int)"
    has = ast("has(object.a)")
    assert isinstance(has, Select) and has.test_only


def test_cel_bind_is_a_comprehension_in_the_internal_env_and_a_call_when_only_parsed() -> None:
    bound = ast("cel.bind(v, object.a, v.size())", internal=True)
    assert isinstance(bound, Comprehension) and bound.is_bind and bound.accu_var == "v"
    parsed = ast("cel.bind(v, 1, v)", checked=False)
    assert isinstance(parsed, Call) and parsed.function == "bind" and isinstance(parsed.target, Ident)
    assert parsed.type is None and parsed.overloads == ()


def test_walk_visits_every_node_once() -> None:
    node = ast("[object.a, object.b].exists(x, x == 'y')")
    ids = [n.id for n in walk(node)]
    assert len(ids) == len(set(ids))
    assert {n.name for n in walk(node) if isinstance(n, Ident)} == {"object", "x", "@result"}


def test_a_foreign_message_is_refused() -> None:
    class NotCel:
        def serialize(self) -> bytes:
            from google.protobuf import any_pb2

            return any_pb2.Any(type_url="type.googleapis.com/x.Y").SerializeToString()  # type: ignore[no-any-return]

    with pytest.raises(ValueError, match="not a CEL expression"):
        parse(NotCel(), "")


def test_type_names_follow_cel_go() -> None:
    assert str(CelType("map", params=(CelType("string"), CelType("list", params=(CelType("int"),))))) == (
        "map(string, list(int))"
    )
    assert str(CelType("type", params=(CelType("int"),))) == "type(int)"
    assert str(CelType("message", "kubernetes.Quantity")) == "kubernetes.Quantity"
    assert str(CelType("error")) == "!error!"
