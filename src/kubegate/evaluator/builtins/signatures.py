"""The declared signatures of Rego's builtin functions, apart from their implementations.

As OPA declares them in https://github.com/open-policy-agent/opa/blob/main/v1/ast/builtins.go,
transcribed from OPA's capabilities file ``capabilities/v1.20.2.json``
(https://github.com/open-policy-agent/opa/blob/main/capabilities/v1.20.2.json): every
builtin there, with its argument and result types, infix operator, and the
``relation``, ``nondeterministic`` and ``deprecated`` marks. Deprecated builtins
(``re_match``, ``all``, ``any``, ``set_diff``, ``cast_*``, ``net.cidr_overlap``)
are offered to v0 policies only, as OPA does (:func:`lookup`).

The type checker uses this table; the implementations are registered apart
(:mod:`kubegate.evaluator.builtins.registry`). Descriptions and categories are
left out (see OPA's documentation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from kubegate.evaluator.types import (
    ANY,
    BOOLEAN,
    NULL,
    NUMBER,
    STRING,
    Type,
    any_of,
    array_of,
    array_static,
    describe,
    object_of,
    object_static,
    set_of,
)

__all__ = ["CAPABILITIES_VERSION", "SIGNATURES", "Signature", "arity", "describe_args", "lookup"]


@dataclass(frozen=True, slots=True)
class Signature:
    """A builtin's declaration (OPA's ``ast.Builtin``).

    Attributes:
        name: as Rego calls it (``"count"``, ``"io.jwt.decode"``, ``"plus"``).
        args: the declared argument types.
        result: the result type; ``None`` for a builtin without one (``print``,
            ``internal.print``, ``internal.test_case``).
        variadic: the type of any number of further arguments (``print``).
        infix: the operator that calls it (``"+"``, ``"=="``, ``"in"``).
        relation: whether it yields many results (``walk``).
        nondeterministic: whether its result may differ between evaluations
            (``http.send``, ``time.now_ns``, ``rand.intn`` ...).
        deprecated: offered to v0 policies only.
        categories: OPA's documentation categories (not recorded here).
    """

    name: str
    args: tuple[Type, ...]
    result: Type | None
    variadic: Type | None = None
    infix: str | None = None
    relation: bool = False
    nondeterministic: bool = False
    deprecated: bool = False
    categories: tuple[str, ...] = ()


# Types that recur in the table (the comment is OPA's text of each).
A, B, N, S = ANY, BOOLEAN, NUMBER, STRING
ARR = array_of(A)  # array[any]
SET = set_of(A)  # set[any]
OBJ = object_of(A, A)  # object[any: any]
SOBJ = object_of(S, A)  # object[string: any]
STR_ARR = array_of(S)  # array[string]
STR_SET = set_of(S)  # set[string]
COLL = any_of(ARR, SET)  # any<array[any], set[any]>
NUMS = any_of(array_of(N), set_of(N))  # any<array[number], set[number]>
KEYS = any_of(ARR, OBJ, SET)  # any<array[any], object[any: any], set[any]>
S_OR_OBJ = any_of(S, OBJ)  # any<string, object[any: any]>
S_OR_STRS = any_of(S, STR_ARR, STR_SET)  # any<string, array[string], set[string]>
PATH = any_of(S, ARR)  # any<string, array[any]>
PATHS = any_of(array_of(PATH), set_of(PATH))  # any<array[any<string, array[any]>], set[any<string, array[any]>]>
NUM_OR_SET = any_of(N, SET)  # any<number, set[any]>
TIME = any_of(N, array_static(N, S))  # any<number, array<number, string>>
CIDRS = any_of(S, array_of(PATH), object_of(S, PATH), set_of(PATH))
GRAPH = object_of(A, COLL)  # object[any: any<array[any], set[any]>]
CERTS = array_static(B, array_of(SOBJ))  # array<boolean, array[object[string: any]]>
N3 = array_static(N, N, N)  # array<number, number, number>

_TABLE: tuple[Signature, ...] = (
    Signature("abs", (N,), N),
    Signature("all", (COLL,), B, deprecated=True),
    Signature("and", (SET, SET), SET, infix="&"),
    Signature("any", (COLL,), B, deprecated=True),
    Signature("array.concat", (ARR, ARR), ARR),
    Signature("array.flatten", (ARR,), ARR),
    Signature("array.reverse", (ARR,), ARR),
    Signature("array.slice", (ARR, N, N), ARR),
    Signature("assign", (A, A), B, infix=":="),
    Signature("base64.decode", (S,), S),
    Signature("base64.encode", (S,), S),
    Signature("base64.is_valid", (S,), B),
    Signature("base64url.decode", (S,), S),
    Signature("base64url.encode", (S,), S),
    Signature("base64url.encode_no_pad", (S,), S),
    Signature("bits.and", (N, N), N),
    Signature("bits.lsh", (N, N), N),
    Signature("bits.negate", (N,), N),
    Signature("bits.or", (N, N), N),
    Signature("bits.rsh", (N, N), N),
    Signature("bits.xor", (N, N), N),
    Signature("cast_array", (A,), ARR, deprecated=True),
    Signature("cast_boolean", (A,), B, deprecated=True),
    Signature("cast_null", (A,), NULL, deprecated=True),
    Signature("cast_object", (A,), OBJ, deprecated=True),
    Signature("cast_set", (A,), SET, deprecated=True),
    Signature("cast_string", (A,), S, deprecated=True),
    Signature("ceil", (N,), N),
    Signature("concat", (S, any_of(STR_ARR, STR_SET)), S),
    Signature("contains", (S, S), B),
    Signature("count", (any_of(S, ARR, OBJ, SET),), N),
    Signature("crypto.hmac.equal", (S, S), B),
    Signature("crypto.hmac.md5", (S, S), S),
    Signature("crypto.hmac.sha1", (S, S), S),
    Signature("crypto.hmac.sha256", (S, S), S),
    Signature("crypto.hmac.sha512", (S, S), S),
    Signature("crypto.md5", (S,), S),
    Signature("crypto.parse_private_keys", (S,), array_of(SOBJ)),
    Signature("crypto.sha1", (S,), S),
    Signature("crypto.sha256", (S,), S),
    Signature("crypto.x509.parse_and_verify_certificates", (S,), CERTS),
    Signature("crypto.x509.parse_and_verify_certificates_with_options", (S, SOBJ), CERTS),
    Signature("crypto.x509.parse_certificate_request", (S,), SOBJ),
    Signature("crypto.x509.parse_certificates", (S,), array_of(SOBJ)),
    Signature("crypto.x509.parse_keypair", (S, S), SOBJ),
    Signature("crypto.x509.parse_rsa_private_key", (S,), SOBJ),
    Signature("div", (N, N), N, infix="/"),
    Signature("endswith", (S, S), B),
    Signature("eq", (A, A), B, infix="="),
    Signature("equal", (A, A), B, infix="=="),
    Signature("floor", (N,), N),
    Signature("format_int", (N, N), S),
    Signature("glob.match", (S, any_of(NULL, STR_ARR), S), B),
    Signature("glob.quote_meta", (S,), S),
    Signature("graph.reachable", (GRAPH, COLL), SET),
    Signature("graph.reachable_paths", (GRAPH, COLL), set_of(ARR)),
    Signature("graphql.is_valid", (S_OR_OBJ, S_OR_OBJ), B),
    Signature("graphql.parse", (S_OR_OBJ, S_OR_OBJ), array_static(OBJ, OBJ)),
    Signature("graphql.parse_and_verify", (S_OR_OBJ, S_OR_OBJ), array_static(B, OBJ, OBJ)),
    Signature("graphql.parse_query", (S,), OBJ),
    Signature("graphql.parse_schema", (S,), OBJ),
    Signature("graphql.schema_is_valid", (S_OR_OBJ,), B),
    Signature("gt", (A, A), B, infix=">"),
    Signature("gte", (A, A), B, infix=">="),
    Signature("hex.decode", (S,), S),
    Signature("hex.encode", (S,), S),
    Signature("http.send", (SOBJ,), OBJ, nondeterministic=True),
    Signature("indexof", (S, S), N),
    Signature("indexof_n", (S, S), array_of(N)),
    Signature("internal.member_2", (A, A), B, infix="in"),
    Signature("internal.member_3", (A, A, A), B, infix="in"),
    Signature("internal.print", (array_of(SET),), None),
    Signature("internal.template_string", (ARR,), S),
    Signature("internal.test_case", (ARR,), None),
    Signature("intersection", (set_of(SET),), SET),
    Signature("io.jwt.decode", (S,), array_static(OBJ, OBJ, S)),
    Signature("io.jwt.decode_verify", (S, SOBJ), array_static(B, OBJ, OBJ), nondeterministic=True),
    Signature("io.jwt.encode_sign", (SOBJ, SOBJ, SOBJ), S, nondeterministic=True),
    Signature("io.jwt.encode_sign_raw", (S, S, S), S, nondeterministic=True),
    Signature("io.jwt.verify_eddsa", (S, S), B),
    Signature("io.jwt.verify_es256", (S, S), B),
    Signature("io.jwt.verify_es384", (S, S), B),
    Signature("io.jwt.verify_es512", (S, S), B),
    Signature("io.jwt.verify_hs256", (S, S), B),
    Signature("io.jwt.verify_hs384", (S, S), B),
    Signature("io.jwt.verify_hs512", (S, S), B),
    Signature("io.jwt.verify_ps256", (S, S), B),
    Signature("io.jwt.verify_ps384", (S, S), B),
    Signature("io.jwt.verify_ps512", (S, S), B),
    Signature("io.jwt.verify_rs256", (S, S), B),
    Signature("io.jwt.verify_rs384", (S, S), B),
    Signature("io.jwt.verify_rs512", (S, S), B),
    Signature("is_array", (A,), B),
    Signature("is_boolean", (A,), B),
    Signature("is_null", (A,), B),
    Signature("is_number", (A,), B),
    Signature("is_object", (A,), B),
    Signature("is_set", (A,), B),
    Signature("is_string", (A,), B),
    Signature("json.filter", (OBJ, PATHS), OBJ),
    Signature("json.is_valid", (S,), B),
    Signature("json.marshal", (A,), S),
    Signature("json.marshal_with_options", (A, object_static({"indent": S, "prefix": S, "pretty": B}, (S, A))), S),
    Signature(
        "json.match_schema",
        (S_OR_OBJ, S_OR_OBJ),
        array_static(B, array_of(object_static({"desc": S, "error": S, "field": S, "type": S}))),
    ),
    Signature("json.patch", (A, array_of(object_static({"op": S, "path": A}, (A, A)))), A),
    Signature("json.remove", (OBJ, PATHS), OBJ),
    Signature("json.unmarshal", (S,), A),
    Signature("json.verify_schema", (S_OR_OBJ,), array_static(B, any_of(NULL, S))),
    # kubegate's own (not in OPA's capabilities file): kubegate.evaluator.builtins.kubegate_image
    Signature("kubegate.image.digest", (S,), S),
    Signature(
        "kubegate.image.verify",
        (S, S),
        object_static(
            {
                "attestor": any_of(NULL, S),
                "cached": B,
                "digest": any_of(NULL, S),
                "message": S,
                "policy": any_of(NULL, S),
                "reason": S,
                "required": B,
                "verified": B,
            }
        ),
    ),
    Signature("lower", (S,), S),
    Signature("lt", (A, A), B, infix="<"),
    Signature("lte", (A, A), B, infix="<="),
    Signature("max", (COLL,), A),
    Signature("min", (COLL,), A),
    Signature("minus", (NUM_OR_SET, NUM_OR_SET), NUM_OR_SET, infix="-"),
    Signature("mul", (N, N), N, infix="*"),
    Signature("neq", (A, A), B, infix="!="),
    Signature("net.cidr_contains", (S, S), B),
    Signature("net.cidr_contains_matches", (CIDRS, CIDRS), set_of(array_static(A, A))),
    Signature("net.cidr_expand", (S,), STR_SET),
    Signature("net.cidr_intersects", (S, S), B),
    Signature("net.cidr_is_valid", (S,), B),
    Signature("net.cidr_merge", (any_of(array_of(any_of(S)), STR_SET),), STR_SET),
    Signature("net.cidr_overlap", (S, S), B, deprecated=True),
    Signature("net.lookup_ip_addr", (S,), STR_SET, nondeterministic=True),
    Signature("numbers.range", (N, N), array_of(N)),
    Signature("numbers.range_step", (N, N, N), array_of(N)),
    Signature("object.filter", (OBJ, KEYS), OBJ),
    Signature("object.get", (OBJ, A, A), A),
    Signature("object.keys", (OBJ,), SET),
    Signature("object.remove", (OBJ, KEYS), OBJ),
    Signature("object.subset", (KEYS, KEYS), B),
    Signature("object.union", (OBJ, OBJ), OBJ),
    Signature("object.union_n", (array_of(OBJ),), OBJ),
    Signature("opa.runtime", (), SOBJ, nondeterministic=True),
    Signature("or", (SET, SET), SET, infix="|"),
    Signature("plus", (N, N), N, infix="+"),
    Signature("print", (), None, variadic=A),
    Signature("product", (NUMS,), N),
    Signature("providers.aws.sign_req", (SOBJ, SOBJ, N), OBJ),
    Signature("rand.intn", (S, N), N, nondeterministic=True),
    Signature("re_match", (S, S), B, deprecated=True),
    Signature("regex.find_all_string_submatch_n", (S, S, N), array_of(STR_ARR)),
    Signature("regex.find_n", (S, S, N), STR_ARR),
    Signature("regex.globs_match", (S, S), B),
    Signature("regex.is_valid", (S,), B),
    Signature("regex.match", (S, S), B),
    Signature("regex.replace", (S, S, S), S),
    Signature("regex.split", (S, S), STR_ARR),
    Signature("regex.template_match", (S, S, S, S), B),
    Signature("rego.metadata.chain", (), ARR),
    Signature("rego.metadata.rule", (), A),
    Signature("rego.parse_module", (S, S), SOBJ),
    Signature("rem", (N, N), N, infix="%"),
    Signature("replace", (S, S, S), S),
    Signature("round", (N,), N),
    Signature("semver.compare", (S, S), N),
    Signature("semver.is_valid", (A,), B),
    Signature("set_diff", (SET, SET), SET, deprecated=True),
    Signature("sort", (COLL,), ARR),
    Signature("split", (S, S), STR_ARR),
    Signature("sprintf", (S, ARR), S),
    Signature("startswith", (S, S), B),
    Signature("strings.any_prefix_match", (S_OR_STRS, S_OR_STRS), B),
    Signature("strings.any_suffix_match", (S_OR_STRS, S_OR_STRS), B),
    Signature("strings.count", (S, S), N),
    Signature("strings.render_template", (S, SOBJ), S),
    Signature("strings.replace_n", (object_of(S, S), S), S),
    Signature("strings.reverse", (S,), S),
    Signature("strings.split_n", (S, S, N), STR_ARR),
    Signature("substring", (S, N, N), S),
    Signature("sum", (NUMS,), N),
    Signature("time.add_date", (N, N, N, N), N),
    Signature("time.clock", (TIME,), N3),
    Signature("time.date", (TIME,), N3),
    Signature("time.diff", (TIME, TIME), array_static(N, N, N, N, N, N)),
    Signature("time.format", (any_of(N, array_static(N, S), array_static(N, S, S)),), S),
    Signature("time.now_ns", (), N, nondeterministic=True),
    Signature("time.parse_duration_ns", (S,), N),
    Signature("time.parse_ns", (S, S), N),
    Signature("time.parse_rfc3339_ns", (S,), N),
    Signature("time.weekday", (TIME,), S),
    Signature("to_number", (any_of(NULL, B, N, S),), N),
    Signature("trace", (S,), B),
    Signature("trim", (S, S), S),
    Signature("trim_left", (S, S), S),
    Signature("trim_prefix", (S, S), S),
    Signature("trim_right", (S, S), S),
    Signature("trim_space", (S,), S),
    Signature("trim_suffix", (S, S), S),
    Signature("type_name", (A,), S),
    Signature("union", (set_of(SET),), SET),
    Signature("units.parse", (S,), N),
    Signature("units.parse_bytes", (S,), N),
    Signature("upper", (S,), S),
    Signature("uri.is_valid", (S,), B),
    Signature("uri.parse", (S,), object_of(S, S)),
    Signature("urlquery.decode", (S,), S),
    Signature("urlquery.decode_object", (S,), object_of(S, STR_ARR)),
    Signature("urlquery.encode", (S,), S),
    Signature("urlquery.encode_object", (object_of(S, S_OR_STRS),), S),
    Signature("uuid.parse", (S,), SOBJ),
    Signature("uuid.rfc4122", (S,), S, nondeterministic=True),
    Signature("walk", (A,), array_static(ARR, A), relation=True),
    Signature("yaml.is_valid", (S,), B),
    Signature("yaml.marshal", (A,), S),
    Signature("yaml.unmarshal", (S,), A),
)

#: Every declared builtin by name, deprecated ones included.
SIGNATURES: Mapping[str, Signature] = MappingProxyType({sig.name: sig for sig in _TABLE})

#: The capabilities file the table follows.
CAPABILITIES_VERSION = "v1.20.2"


def lookup(name: str, rego_version: str = "v1") -> Signature | None:
    """The signature of the builtin ``name`` for a policy of ``rego_version``
    (``"v0"`` or ``"v1"``), or ``None`` when there is none: deprecated builtins
    exist for v0 policies only.

    Raises:
        ValueError: ``rego_version`` is neither ``"v0"`` nor ``"v1"``.
    """
    if rego_version not in ("v0", "v1"):
        raise ValueError(f"unknown Rego version {rego_version!r} (want v0 or v1)")
    sig = SIGNATURES.get(name)
    if sig is None or (sig.deprecated and rego_version != "v0"):
        return None
    return sig


def arity(sig: Signature) -> int:
    """The number of declared arguments (OPA's ``types.Arity``; a variadic tail not counted)."""
    return len(sig.args)


def describe_args(sig: Signature) -> str:
    """The argument list as OPA prints it in type errors (``types.FuncArgs.String``):
    ``(string, any<array[string], set[string]>)``, ``(any...)`` for ``print``.
    OPA also names each argument there (``want: (base: string, ...)``); names are
    not recorded in capabilities files, so they are not printed."""
    parts = [describe(t) for t in sig.args]
    if sig.variadic is not None:
        parts.append(describe(sig.variadic) + "...")
    return "(" + ", ".join(parts) + ")"
