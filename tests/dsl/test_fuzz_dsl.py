"""Fuzzing the DSL front-end: mutated and token-soup ``.kgr`` files compile or give
DslErrors with codes and locations, never another exception.

``KUBEGATE_FUZZ_EXAMPLES=N`` runs N examples per test (see tests/policy/fuzzing.py).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kubegate.dsl.compiler import compile_source
from kubegate.dsl.schema import SchemaSet
from kubegate.policy.catalog import build_catalog
from kubegate.policy.loader import compile_dsl_sources, load_policy_texts
from tests.policy.fuzzing import DSL_SEEDS, FRAGMENTS, assert_kubegate_error, fuzz_settings, mutated_text

SCHEMAS = SchemaSet()

# Tokens of the DSL, plus literals that broke it: control characters and bad
# escapes in strings, lone surrogates, huge numbers and indexes, deep nesting.
TOKENS = [
    "RULE", "r", '"id"', "ON", "Pod", "Deployment", "CronJob", "SEVERITY", "high", "DESCRIPTION", "ROLLOUT",
    "CANARY", "10%", "999%", "SHADOW", "BY", "namespace", "IN", "EXCEPT", "NAMESPACES", "WHEN", "THEN", "AND",
    "OR", "NOT", "ANY", "ALL", "container", "c", ":", "MATCHES", "EXISTS", "MISSING", "STARTS", "ENDS", "WITH",
    "CONTAINS", "DENY", "WARN", "AUDIT", "CALL", "PARAM", "list[string]", "=", "==", "!=", "<", ">=", "(", ")",
    "[", "]", ",", ".", "c.name", "c.image", 'labels["app"]', "spec.replicas", "len(c.ports)", "true", "null",
    "1", "2Gi", "500m", "1.5e10", "1" * 400, "containers[" + "9" * 5000 + "]", '"x"', '"{c.name}"', '"{{"',
    '"{c.nope"', '"a\\qb"', '"\x00"', '"\x07"', '"\\ud800"', '"\\ud83d\\ude00"', "\ud800", "#", "\n",
    "NOT " * 150, "[" * 150 + '"x"' + "]" * 150, "(" * 500 + "1" + ")" * 500, "len(" * 120 + "c" + ")" * 120,
]  # fmt: skip


def _compile(text: str) -> None:
    result = compile_source(text, "fuzz.kgr", SCHEMAS)
    for error in result.errors:
        assert_kubegate_error(error, located=True)
    for rule in result.rules:
        assert rule.text


@fuzz_settings(200)
@given(mutated_text(DSL_SEEDS, max_edits=4))
def test_mutated_dsl_files_compile_or_report_located_codes(case: tuple[str, str]) -> None:
    _compile(case[1])


@fuzz_settings(200)
@given(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=40))
def test_token_soup_compiles_or_reports_located_codes(tokens: list[str]) -> None:
    _compile(" ".join(tokens))


@fuzz_settings(150)
@given(
    st.lists(st.sampled_from(TOKENS), min_size=0, max_size=6),
    st.sampled_from(['labels["app"] == {}', "ANY container c: c.image ENDS WITH {}", "{} EXISTS"]),
    st.sampled_from([*FRAGMENTS, '"ok"']),
)
def test_rules_with_odd_operands_compile_or_report_located_codes(tokens: list[str], shape: str, value: str) -> None:
    head = "RULE fuzz ON Pod WHEN " + shape.format(value) + ' THEN DENY("m {c.name}")\n'
    _compile(head + " ".join(tokens))


@fuzz_settings(80)
@given(mutated_text(DSL_SEEDS, max_edits=3))
def test_mutated_dsl_files_through_the_loader(case: tuple[str, str]) -> None:
    name, text = case
    catalog = build_catalog(compile_dsl_sources(load_policy_texts({name.rsplit("/", 1)[-1]: text})))
    for error in (*catalog.errors, *catalog.warnings):
        assert_kubegate_error(error)
