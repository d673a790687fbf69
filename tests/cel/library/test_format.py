"""The format library beyond its YAML cases (``cases/library/format.yaml``, run by
tests/cel/test_library.py): the declared formats and :func:`rewrite_validate` on text."""

from __future__ import annotations

import pytest

from kubegate.cel.env import environment, runtime_environment
from kubegate.cel.library.format import FORMATS, rewrite_validate
from kubegate.cel.program import EmbeddedCel, activation, compile_internal


def test_every_kubernetes_format_is_declared() -> None:
    labels = ["dns1123Label", "dns1123Subdomain", "dns1035Label", "qualifiedName", "labelValue"]
    prefixes = ["dns1123LabelPrefix", "dns1123SubdomainPrefix", "dns1035LabelPrefix"]
    assert sorted(FORMATS) == sorted([*labels, *prefixes, "uri", "uuid", "byte", "date", "datetime"])


def test_without_the_rewrite_validate_is_an_error_value() -> None:
    env = runtime_environment(["object"])
    value = env.compile("format.uri().validate('x').hasValue()", disable_check=True).eval(env.Activation({}))
    assert value.type().name() == "ERROR"
    assert "rewrite_validate" in value.plain_value()


def _bound(call: str, n: int = 0) -> str:
    return f"cel.bind(__kgf{n}, {call}, __kgf{n} == null ? optional.none() : optional.of(__kgf{n}))"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1 + 2", "1 + 2"),
        ("'x.validate(y)' + format.named", "'x.validate(y)' + format.named"),  # strings and bare names untouched
        ("a.validate(b)", _bound("__kg_format_validate(a, b)")),
        ("!f.g(x).validate(s).hasValue()", "!" + _bound("__kg_format_validate(f.g(x), s)") + ".hasValue()"),
        ("x in m[k] . validate (s)", "x in " + _bound("__kg_format_validate(m[k], s)")),
        ("format.named('a')", _bound("__kg_format_named('a')")),
        ("myformat.named(1)", "myformat.named(1)"),
        ("o.validated(1)", "o.validated(1)"),
    ],
)
def test_rewrite_on_text(text: str, want: str) -> None:
    assert rewrite_validate(text) == want


def test_nested_calls_get_distinct_bindings() -> None:
    text = "format.named('uri').value().validate(format.uuid().validate('x').value()[0])"
    out = rewrite_validate(text)
    assert out.count("cel.bind(") == 3
    assert {"__kgf0", "__kgf1", "__kgf2"} <= set(out.replace("(", " ").replace(",", " ").split())
    environment(["object"]).compile(text)
    program = compile_internal(EmbeddedCel(text, "t"), out + ".value()", ["object"])
    assert program is not None
    got = program.evaluate(activation(program, {"object": None}))
    assert got == ['parse "does not match the UUID format": invalid URI for request']
