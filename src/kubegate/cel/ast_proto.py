"""A hand-declared protobuf descriptor of cel-spec's ``cel.expr`` AST, to
decode what ``Expression.serialize()`` returns (:mod:`kubegate.cel.ast`).

cel-expr-python ships no ``cel.expr`` message classes, so the messages of
cel-spec's ``proto/cel/expr/syntax.proto`` (``Expr``, ``Constant``,
``SourceInfo``, ``ParsedExpr``) and ``checked.proto`` (``Type``,
``Reference``, ``CheckedExpr``) are declared here with their field numbers,
only the fields kubegate reads (https://github.com/google/cel-spec), in a
private pool (package ``kgast``); the other fields are decoded as unknown
fields and ignored. ``map<K, V>`` fields are declared as their repeated entry
messages, as they are on the wire, and enums as ``int32``.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

__all__ = ["CONSTANT_KINDS", "PRIMITIVES", "WELL_KNOWN", "unpack"]


def _descriptor() -> descriptor_pb2.FileDescriptorProto:
    """cel-spec's syntax.proto and checked.proto, the fields kubegate reads."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="kubegate/cel/ast.proto", package="kgast", syntax="proto3")

    def message(parent: Any, name: str, fields: list[tuple[str, int, int, bool, str, int]]) -> Any:
        msg = parent.add(name=name)
        for fname, number, ftype, repeated, type_name, oneof in fields:
            fd = msg.field.add(
                name=fname, number=number, type=ftype, label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL
            )
            if type_name:
                fd.type_name = ".kgast." + type_name
            if oneof >= 0:
                fd.oneof_index = oneof
        return msg

    msg, s, i64, i32, b, d, u64, by = (
        f.TYPE_MESSAGE,
        f.TYPE_STRING,
        f.TYPE_INT64,
        f.TYPE_INT32,
        f.TYPE_BOOL,
        f.TYPE_DOUBLE,
        f.TYPE_UINT64,
        f.TYPE_BYTES,
    )
    message(file.message_type, "Empty", [])
    const = message(
        file.message_type,
        "Constant",
        [
            ("null_value", 1, i32, False, "", 0),  # an enum on the wire: a varint
            ("bool_value", 2, b, False, "", 0),
            ("int64_value", 3, i64, False, "", 0),
            ("uint64_value", 4, u64, False, "", 0),
            ("double_value", 5, d, False, "", 0),
            ("string_value", 6, s, False, "", 0),
            ("bytes_value", 7, by, False, "", 0),
        ],
    )
    const.oneof_decl.add(name="constant_kind")
    kinds = ["Constant", "Expr.Ident", "Expr.Select", "Expr.Call", "Expr.CreateList", "Expr.CreateStruct"]
    names = ["const_expr", "ident_expr", "select_expr", "call_expr", "list_expr", "struct_expr"]
    expr = message(
        file.message_type,
        "Expr",
        [("id", 2, i64, False, "", -1)]
        + [(n, 3 + k, msg, False, t, 0) for k, (n, t) in enumerate(zip(names, kinds, strict=True))]
        + [("comprehension_expr", 9, msg, False, "Expr.Comprehension", 0)],
    )
    expr.oneof_decl.add(name="expr_kind")
    message(expr.nested_type, "Ident", [("name", 1, s, False, "", -1)])
    message(
        expr.nested_type,
        "Select",
        [("operand", 1, msg, False, "Expr", -1), ("field", 2, s, False, "", -1), ("test_only", 3, b, False, "", -1)],
    )
    message(
        expr.nested_type,
        "Call",
        [("target", 1, msg, False, "Expr", -1), ("function", 2, s, False, "", -1), ("args", 3, msg, True, "Expr", -1)],
    )
    message(
        expr.nested_type,
        "CreateList",
        [("elements", 1, msg, True, "Expr", -1), ("optional_indices", 2, i32, True, "", -1)],
    )
    struct = message(
        expr.nested_type,
        "CreateStruct",
        [("message_name", 1, s, False, "", -1), ("entries", 2, msg, True, "Expr.CreateStruct.Entry", -1)],
    )
    message(
        struct.nested_type,
        "Entry",
        [
            ("id", 1, i64, False, "", -1),
            ("field_key", 2, s, False, "", 0),
            ("map_key", 3, msg, False, "Expr", 0),
            ("value", 4, msg, False, "Expr", -1),
            ("optional_entry", 5, b, False, "", -1),
        ],
    ).oneof_decl.add(name="key_kind")
    message(
        expr.nested_type,
        "Comprehension",
        [
            ("iter_var", 1, s, False, "", -1),
            ("iter_range", 2, msg, False, "Expr", -1),
            ("accu_var", 3, s, False, "", -1),
            ("accu_init", 4, msg, False, "Expr", -1),
            ("loop_condition", 5, msg, False, "Expr", -1),
            ("loop_step", 6, msg, False, "Expr", -1),
            ("result", 7, msg, False, "Expr", -1),
            ("iter_var2", 8, s, False, "", -1),
        ],
    )
    ty = message(
        file.message_type,
        "Type",
        [
            ("dyn", 1, msg, False, "Empty", 0),
            ("null", 2, i32, False, "", 0),
            ("primitive", 3, i32, False, "", 0),
            ("wrapper", 4, i32, False, "", 0),
            ("well_known", 5, i32, False, "", 0),
            ("list_type", 6, msg, False, "Type.ListType", 0),
            ("map_type", 7, msg, False, "Type.MapType", 0),
            ("function", 8, msg, False, "Type.FunctionType", 0),
            ("message_type", 9, s, False, "", 0),
            ("type_param", 10, s, False, "", 0),
            ("type", 11, msg, False, "Type", 0),
            ("error", 12, msg, False, "Empty", 0),
            ("abstract_type", 14, msg, False, "Type.AbstractType", 0),
        ],
    )
    ty.oneof_decl.add(name="type_kind")
    message(ty.nested_type, "ListType", [("elem_type", 1, msg, False, "Type", -1)])
    message(
        ty.nested_type, "MapType", [("key_type", 1, msg, False, "Type", -1), ("value_type", 2, msg, False, "Type", -1)]
    )
    message(
        ty.nested_type,
        "FunctionType",
        [("result_type", 1, msg, False, "Type", -1), ("arg_types", 2, msg, True, "Type", -1)],
    )
    message(
        ty.nested_type,
        "AbstractType",
        [("name", 1, s, False, "", -1), ("parameter_types", 2, msg, True, "Type", -1)],
    )
    message(
        file.message_type,
        "Reference",
        [("name", 1, s, False, "", -1), ("overload_id", 3, s, True, "", -1)],
    )
    # map<K, V> fields are repeated entry messages on the wire (key = 1, value = 2).
    message(file.message_type, "PositionEntry", [("key", 1, i64, False, "", -1), ("value", 2, i32, False, "", -1)])
    message(file.message_type, "TypeEntry", [("key", 1, i64, False, "", -1), ("value", 2, msg, False, "Type", -1)])
    message(
        file.message_type, "ReferenceEntry", [("key", 1, i64, False, "", -1), ("value", 2, msg, False, "Reference", -1)]
    )
    message(
        file.message_type,
        "SourceInfo",
        [("line_offsets", 3, i32, True, "", -1), ("positions", 4, msg, True, "PositionEntry", -1)],
    )
    source = [("expr", 2, msg, False, "Expr", -1), ("source_info", 3, msg, False, "SourceInfo", -1)]
    message(file.message_type, "ParsedExpr", source)
    message(
        file.message_type,
        "CheckedExpr",
        [
            ("reference_map", 2, msg, True, "ReferenceEntry", -1),
            ("type_map", 3, msg, True, "TypeEntry", -1),
            ("expr", 4, msg, False, "Expr", -1),
            ("source_info", 5, msg, False, "SourceInfo", -1),
        ],
    )
    return file


_POOL = descriptor_pool.DescriptorPool()
_POOL.Add(_descriptor())
_CHECKED = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("kgast.CheckedExpr"))
_PARSED = message_factory.GetMessageClass(_POOL.FindMessageTypeByName("kgast.ParsedExpr"))
PRIMITIVES = {1: "bool", 2: "int", 3: "uint", 4: "double", 5: "string", 6: "bytes"}
"""``Type.PrimitiveType`` numbers (also of ``Type.wrapper``) to CEL type names."""
WELL_KNOWN = {1: "any", 2: "timestamp", 3: "duration"}
"""``Type.WellKnownType`` numbers to CEL type names."""
CONSTANT_KINDS = {
    "null_value": "null",
    "bool_value": "bool",
    "int64_value": "int",
    "uint64_value": "uint",
    "double_value": "double",
    "string_value": "string",
    "bytes_value": "bytes",
}
"""``Constant``'s ``constant_kind`` fields to literal kinds."""


def unpack(serialized: bytes) -> Any:
    """The ``CheckedExpr`` or ``ParsedExpr`` message in ``serialized`` (a
    ``google.protobuf.Any``, as ``Expression.serialize()`` returns it).

    Raises:
        ValueError: it holds neither.
    """
    wrapped = any_pb2.Any.FromString(serialized)
    if wrapped.type_url.endswith("cel.expr.CheckedExpr"):
        return _CHECKED.FromString(wrapped.value)
    if wrapped.type_url.endswith("cel.expr.ParsedExpr"):
        return _PARSED.FromString(wrapped.value)
    raise ValueError(f"not a CEL expression: {wrapped.type_url}")
