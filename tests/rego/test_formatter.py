"""Formatter (``kubegate fmt``): OPA's layout, comments kept, idempotent, same module.

Fixture pairs live in tests/rego/fixtures/fmt (``NAME.in.rego`` -> ``NAME.out.rego``;
``v0_*`` inputs are read as Rego v0). The corpus tests format every module of
the built-in library, of OPA's conformance cases (/work/opa-cases) and of the
gatekeeper-library checkout (/work/gklib) when those directories exist.
"""

from __future__ import annotations

import collections
import textwrap
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from kubegate.errors import RegoParseError
from kubegate.rego.ast import RegoVersion
from kubegate.rego.formatter import RegoFormatError, equivalent_modules, format_source
from kubegate.rego.parser import parse_module, parse_module_with_comments
from tests.policy.fuzzing import fuzz_settings

FIXTURES = Path(__file__).parent / "fixtures" / "fmt"
LIBRARY = Path(__file__).parents[2] / "src" / "kubegate" / "policy" / "library"
OPA_CASES = Path("/work/opa-cases")
GATEKEEPER_LIBRARY = Path("/work/gklib")
PAIRS = sorted(p.name.removesuffix(".in.rego") for p in FIXTURES.glob("*.in.rego"))


def fmt(source: str, version: RegoVersion | None = "v1") -> str:
    return format_source(textwrap.dedent(source).lstrip("\n"), "t.rego", version=version)


def comments(source: str, version: RegoVersion | None = None) -> collections.Counter[str]:
    return collections.Counter(c.text.rstrip() for c in parse_module_with_comments(source, "c.rego", version).comments)


def assert_formats_back(source: str, name: str, version: RegoVersion | None) -> None:
    """The output is the same module, keeps every comment and is its own format."""
    out = format_source(source, name, version=version)
    assert equivalent_modules(parse_module(source, name, version), parse_module(out, name, "v1")), name
    assert comments(out, "v1") == comments(source, version), name
    assert format_source(out, name) == out, name


# ---------------------------------------------------------------- fixture pairs


@pytest.mark.parametrize("name", PAIRS)
def test_fixture_formats_to_expected_text(name: str) -> None:
    source = (FIXTURES / f"{name}.in.rego").read_text("utf-8")
    expected = (FIXTURES / f"{name}.out.rego").read_text("utf-8")
    version: RegoVersion = "v0" if name.startswith("v0_") else "v1"
    assert format_source(source, f"{name}.in.rego", version=version) == expected
    assert_formats_back(source, name, version)


@pytest.mark.parametrize("name", PAIRS)
def test_expected_fixture_is_a_fixed_point(name: str) -> None:
    expected = (FIXTURES / f"{name}.out.rego").read_text("utf-8")
    assert format_source(expected, f"{name}.out.rego") == expected


def test_fixtures_cover_the_three_kinds_of_input() -> None:
    assert {"comments", "layout", "v0_gatekeeper"} <= set(PAIRS)


# ---------------------------------------------------------------- layout


def test_v1_keywords_tabs_and_blank_lines_between_rules() -> None:
    out = fmt(
        """
        package   a.b
        deny[msg] {
            msg := "x"
            input.y }
        default allow = false
        """,
        "v0",
    )
    assert out == 'package a.b\n\ndeny contains msg if {\n\tmsg := "x"\n\tinput.y\n}\n\ndefault allow = false\n'


def test_single_condition_on_the_head_line_stays_inline_unless_it_starts_with_a_brace() -> None:
    assert fmt("package x\np if { input.a }\n") == "package x\n\np if input.a\n"
    assert fmt("package x\np if {\n  input.a\n}\n") == "package x\n\np if {\n\tinput.a\n}\n"
    assert fmt("package x\np if { {1} == input.x }\n") == "package x\n\np if {\n\t{1} == input.x\n}\n"


def test_one_line_rules_on_consecutive_lines_stay_grouped() -> None:
    out = fmt("package x\na := 1\nb := 2\n\nc := 3\nd if {\n  true\n}\ne := 4\n")
    assert out == "package x\n\na := 1\nb := 2\n\nc := 3\n\nd if {\n\ttrue\n}\n\ne := 4\n"


def test_blank_lines_inside_a_body_collapse_to_one() -> None:
    out = fmt("package x\np if {\n  a := 1\n\n\n\n  a > 0\n}\n")
    assert out == "package x\n\np if {\n\ta := 1\n\n\ta > 0\n}\n"


def test_imports_are_sorted_within_adjacent_lines_only() -> None:
    out = fmt("package x\nimport data.b\nimport data.a as z\n\nimport data.c\n")
    assert out == "package x\n\nimport data.a as z\nimport data.b\n\nimport data.c\n"


def test_collections_keep_one_line_or_break_per_source_line() -> None:
    out = fmt("package x\na := [1, 2]\nb := [1,\n  2]\nc := f(\n  1, 2)\n")
    assert "a := [1, 2]\n" in out
    assert "b := [\n\t1,\n\t2,\n]\n" in out
    assert "c := f(\n\t1, 2,\n)\n" in out


def test_an_argument_hugging_the_parenthesis_stays_so() -> None:
    out = fmt('package x\np := sprintf("%v", [\n  input.a,\n])\n')
    assert out == 'package x\n\np := sprintf("%v", [\n\tinput.a,\n])\n'


def test_comprehension_and_every_bodies_inline_or_one_literal_per_line() -> None:
    out = fmt(
        """
        package x
        p if {
          xs := [x | some x in input.xs; x > 1]
          ys := {y |
            some y in input.ys
            y != ""
          }
          every z in xs { z > 0 }
        }
        """
    )
    assert "\txs := [x | some x in input.xs; x > 1]\n" in out
    assert '\tys := {y |\n\t\tsome y in input.ys\n\t\ty != ""\n\t}\n' in out
    assert "\tevery z in xs { z > 0 }\n" in out


def test_with_modifiers_stay_on_their_lines() -> None:
    out = fmt("package x\np if {\n  q with input as 1\n  q\n    with input as 2\n    with data.y as 3\n}\n")
    assert "\tq with input as 1\n\tq\n\t\twith input as 2\n\t\twith data.y as 3\n" in out


def test_else_stays_on_the_closing_brace_line_or_its_own_line() -> None:
    out = fmt("package x\np := 1 if {\n  input.a\n} else := 2 if {\n  input.b\n}\nelse := 3\n")
    assert out == "package x\n\np := 1 if {\n\tinput.a\n} else := 2 if {\n\tinput.b\n}\nelse := 3\n"


def test_operators_get_opa_parentheses_and_lose_redundant_ones() -> None:
    out = fmt("package x\np := ((1 + 2)) * 3 - 4\nq := a + b * c\nr if (1 + 1) in [2]\n")
    assert "p := ((1 + 2) * 3) - 4\n" in out
    assert "q := a + (b * c)\n" in out
    assert "r if (1 + 1) in [2]\n" in out


def test_strings_keep_their_spelling() -> None:
    source = 'package x\n\np := ["\\u00e9", "é", "a\\/b", `raw \\n`]\n\nq := `two\nlines`\n'
    assert fmt(source) == source


def test_keyword_ref_segments_keep_the_form_they_were_written_in() -> None:
    source = 'package x\n\np := input.not.if\n\nq := input["not"]\n'
    assert fmt(source) == source


def test_two_segment_heads_print_as_brackets_unless_a_ref_head_is_needed() -> None:
    assert fmt("package x\np.a := 1\n") == 'package x\n\np["a"] := 1\n'
    assert fmt("package x\np.a := 1\nq.r.s := 2\n") == "package x\n\np.a := 1\nq.r.s := 2\n"


def test_a_literal_starting_with_a_negative_number_is_parenthesised_after_another() -> None:
    out = fmt("package x\np if { input.a; -1 < input.b }\n")
    assert out == "package x\n\np if {\n\tinput.a\n\t(-1) < input.b\n}\n"


# ---------------------------------------------------------------- comments


def test_trailing_comment_stays_on_the_line_of_its_last_token() -> None:
    out = fmt("package x\np if {   # head\n  input.a   # a\n}   # end\n")
    assert out == "package x\n\np if { # head\n\tinput.a # a\n} # end\n"


def test_two_trailing_comments_joined_on_one_line_keep_their_order() -> None:
    out = fmt("package x\nx := 1 + # a\n  2 # b\n")
    assert out == "package x\n\nx := 1 + 2 # a\n# b\n"


def test_own_line_comment_inside_a_one_line_collection_breaks_it() -> None:
    out = fmt("package x\nxs := [1, 2\n  # inside\n]\n")
    assert out == "package x\n\nxs := [\n\t1, 2,\n\t# inside\n]\n"


def test_comments_before_a_closing_brace_stay_inside_the_block() -> None:
    out = fmt("package x\np if {\n  input.a\n# last\n}\n")
    assert out == "package x\n\np if {\n\tinput.a\n\t# last\n}\n"


def test_metadata_blocks_are_kept_and_still_annotate_their_rule() -> None:
    source = "package x\n# METADATA\n# title: T\n# custom:\n#   id: KG-1\ndeny contains 1 if input.x\n"
    out = fmt(source)
    assert "# METADATA\n# title: T\n# custom:\n#   id: KG-1\ndeny contains 1 if input.x\n" in out
    rule = parse_module(out, "t.rego").rules[0]
    assert rule.annotations is not None
    assert rule.annotations.custom == {"id": "KG-1"}


# ---------------------------------------------------------------- versions and imports


def test_v0_imports_are_dropped_when_printing_v0_as_v1() -> None:
    out = fmt("package x\nimport future.keywords.in\nimport data.lib\np[x] { some x in lib.xs }\n", "v0")
    assert out == "package x\n\nimport data.lib\n\np contains x if some x in lib.xs\n"


def test_v1_keeps_rego_v1_import_unless_asked_to_drop_it() -> None:
    source = "package x\n\nimport rego.v1\n\np := 1\n"
    assert fmt(source) == source
    dropped = format_source(source, "t.rego", drop_v0_imports=True)
    assert dropped == "package x\n\np := 1\n"


def test_v0_source_read_as_v1_is_a_parse_error() -> None:
    with pytest.raises(RegoParseError) as info:
        fmt("package x\np { true }\n")
    assert info.value.code == "rego_parse_error"
    assert info.value.location is not None
    assert (info.value.location.line, info.value.location.column) == (2, 1)


def test_v0_name_that_is_a_v1_keyword_is_a_located_format_error() -> None:
    with pytest.raises(RegoFormatError) as info:
        fmt("package x\n\np {\n  x := 1\n  every := x\n}\n", "v0")
    assert info.value.code == "rego_format_error"
    assert info.value.location is not None
    assert info.value.location.line == 5


def test_equivalence_ignores_layout_but_not_meaning() -> None:
    a = parse_module("package x\nimport future.keywords.if\np if { input.a }\n", "a.rego")
    b = parse_module("package x\n\np if input.a\n", "b.rego")
    c = parse_module("package x\n\np if input.b\n", "c.rego")
    assert equivalent_modules(a, b)
    assert not equivalent_modules(a, c)


def test_a_module_nesting_too_deeply_is_a_format_error_not_a_crash() -> None:
    depth = 2000
    source = "package x\n\np := " + "[" * depth + "1" + "]" * depth + "\n"
    with pytest.raises(RegoFormatError) as info:
        format_source(source, "deep.rego")
    assert info.value.code == "rego_format_error"
    assert fmt("package x\n\np := [[[[1]]]]\n") == "package x\n\np := [[[[1]]]]\n"


# ---------------------------------------------------------------- corpora


def _library_modules() -> list[tuple[str, str, RegoVersion | None]]:
    return [(str(p), p.read_text("utf-8"), None) for p in sorted(LIBRARY.rglob("*.rego"))]


def _opa_case_modules() -> list[tuple[str, str, RegoVersion | None]]:
    out: list[tuple[str, str, RegoVersion | None]] = []
    for path in sorted(OPA_CASES.rglob("*.yaml")):
        doc = yaml.safe_load(path.read_text("utf-8")) or {}
        for i, case in enumerate(doc.get("cases") or []):
            out.extend((f"{path}#{i}.{j}", m, "v1") for j, m in enumerate(case.get("modules") or []))
    return out


def _gatekeeper_modules() -> list[tuple[str, str, RegoVersion | None]]:
    out: list[tuple[str, str, RegoVersion | None]] = []
    for path in sorted((GATEKEEPER_LIBRARY / "library").rglob("template.yaml")):
        for doc in yaml.safe_load_all(path.read_text("utf-8")):
            for i, target in enumerate(((doc or {}).get("spec") or {}).get("targets") or []):
                texts = [target.get("rego"), *(target.get("libs") or [])]
                out.extend((f"{path}#{i}.{j}", t, None) for j, t in enumerate(texts) if t)
    return out


def _round_trip_failures(modules: list[tuple[str, str, RegoVersion | None]]) -> tuple[int, list[str]]:
    """Formats every module that kubegate parses; returns how many did and what failed."""
    done, failures = 0, []
    for name, source, version in modules:
        try:
            parse_module(source, name, version)
        except RegoParseError:
            continue  # not kubegate's Rego (a case about a parse error): nothing to format
        try:
            assert_formats_back(source, name, version)
        except (AssertionError, RegoFormatError) as exc:
            failures.append(f"{name}: {exc}")
        done += 1
    return done, failures


def test_library_modules_round_trip() -> None:
    done, failures = _round_trip_failures(_library_modules())
    assert done >= 6
    assert failures == []


@pytest.mark.skipif(not OPA_CASES.is_dir(), reason="no OPA conformance cases at /work/opa-cases")
def test_opa_conformance_modules_round_trip() -> None:
    done, failures = _round_trip_failures(_opa_case_modules())
    assert done > 500
    assert failures == []


@pytest.mark.skipif(not GATEKEEPER_LIBRARY.is_dir(), reason="no gatekeeper-library checkout at /work/gklib")
def test_gatekeeper_library_modules_round_trip() -> None:
    done, failures = _round_trip_failures(_gatekeeper_modules())
    assert done > 20
    assert failures == []


# ---------------------------------------------------------------- fuzzing


def _seeds() -> list[tuple[str, RegoVersion]]:
    seeds: list[tuple[str, RegoVersion]] = []
    for name in PAIRS:
        version: RegoVersion = "v0" if name.startswith("v0_") else "v1"
        seeds.append(((FIXTURES / f"{name}.in.rego").read_text("utf-8"), version))
    for _, text, _ in _library_modules():
        seeds.append((text, parse_module(text, "seed.rego").version))
    return seeds


SEEDS = _seeds()
_EDITS = st.sampled_from(["keep", "keep", "keep", "trailing", "own-line", "blank", "indent"])


def _edited(source: str, version: RegoVersion, edits: list[str], indents: list[str]) -> str:
    """``source`` with comments, blank lines and indentation added between tokens.

    Lines inside a multi-line token (raw strings) and next to a comment (a
    ``# METADATA`` block must stay one block) are left alone.
    """
    parsed = parse_module_with_comments(source, "seed.rego", version)
    frozen = {n for t in parsed.tokens if t.end_line > t.line for n in range(t.line, t.end_line + 1)}
    frozen |= {c.line + d for c in parsed.comments for d in (-1, 0, 1)}
    out: list[str] = []
    for n, line in enumerate(source.split("\n"), start=1):
        edit = "keep" if n in frozen else edits[n % len(edits)]
        indent = indents[n % len(indents)]
        if edit == "trailing" and line.strip():
            line += f"  # t{n}"
        elif edit == "indent":
            line = indent + line.lstrip(" \t")
        out.append(line)
        if edit == "own-line":
            out.append(f"{indent}# o{n}")
        elif edit == "blank":
            out.append("")
    return "\n".join(out)


@fuzz_settings(60)
@given(
    st.sampled_from(range(len(SEEDS))),
    st.lists(_EDITS, min_size=1, max_size=12),
    st.lists(st.sampled_from(["", " ", "\t", "    ", "\t\t  "]), min_size=1, max_size=4),
)
def test_edited_modules_format_to_the_same_module_and_fixed_point(
    seed: int, edits: list[str], indents: list[str]
) -> None:
    source, version = SEEDS[seed]
    assert_formats_back(_edited(source, version, edits, indents), "fuzz.rego", version)
