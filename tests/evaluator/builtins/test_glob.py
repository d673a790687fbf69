"""The glob builtins (kubegate.evaluator.builtins.glob), driven by cases/glob.yaml, and
glob.match checked against an independent translation of the documented syntax."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubegate.evaluator.builtins.glob as glob
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._regex_cases import load, run


@pytest.mark.parametrize("case", load("glob"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_registered() -> None:
    assert IMPLEMENTATIONS["glob.match"].impl is glob.match
    assert IMPLEMENTATIONS["glob.quote_meta"].impl is glob.quote_meta


def test_translation() -> None:
    assert glob.translate("{a,b*}?[!x]", (".",)) == "(?:a|b[^\\x{2e}]*)[^\\x{2e}][^x]"
    assert glob.translate("**", ()) == "(?s:.*)"
    assert glob.translate("*", ()) == "(?s:.)*"


def test_cache_keys_on_delimiters() -> None:
    assert glob.match("*", None, "a.b") is True
    assert glob.match("*", ["."], "a.b") is False
    assert glob.match("*", ["/"], "a.b") is True


def test_cache_is_bounded_and_keeps_errors() -> None:
    for i in range(300):
        assert glob.match(f"x{i}*", None, f"x{i}yz")
    assert len(glob._CACHE) <= 100
    for _ in range(2):
        with pytest.raises(BuiltinError, match="unclosed"):
            glob.match("{", None, "")


def test_quote_meta_round_trips() -> None:
    text = "a*b?c[d]e{f,g}h\\i"
    assert glob.match(glob.quote_meta(text), None, text) is True
    assert glob.match(glob.quote_meta(text), None, "a*b?c[d]e{f,g}h\\j") is False


def test_hostile_patterns() -> None:
    assert glob.match("{" * 20_000 + "a" + "}" * 20_000, None, "a") is True
    assert glob.match("*" * 100_001, ["."], "abc") is True
    assert glob.match("?" * 10_000, None, "x" * 10_000) is True
    assert glob.match("*a" * 2_000, ["."], "a" * 3_000) is True
    with pytest.raises(BuiltinError, match="unclosed"):
        glob.match("{a," * 10_000, None, "a")
    with pytest.raises(BuiltinError):
        glob.match("[" + "a" * 100_000, None, "a")


def test_lone_surrogates_do_not_break_anything() -> None:
    assert isinstance(glob.match("\ud800*", None, "\ud800x"), bool)
    assert isinstance(glob.match("*", ["\ud800"], "a\ud800"), bool)


# An independent translation of the documented syntax to Python's re (as the gobwas/glob
# fuzz oracle does for Go's regexp), for the patterns glob.match accepts.
def _reference(pattern: str, delimiters: list[str] | None) -> str:
    seps = (delimiters or ["."]) if delimiters is not None else []
    one = "[^" + "".join(re.escape(d) for d in seps) + "]" if seps else "(?s:.)"
    out, depth, i = [], 0, 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            i += 1
            out.append(re.escape(pattern[i]))
        elif c == "*":
            if pattern[i + 1 : i + 2] == "*":
                i += 1
                out.append("(?s:.*)")
            else:
                out.append(one + "*")
        elif c == "?":
            out.append(one)
        elif c == "{":
            depth += 1
            out.append("(?:")
        elif c == "}" and depth:
            depth -= 1
            out.append(")")
        elif c == "," and depth:
            out.append("|")
        elif c == "[":
            j = i + 1
            neg = pattern[j : j + 1] == "!"
            j += neg
            head = "[^" if neg else "["
            if pattern[j + 1 : j + 2] == "-":
                out.append(f"{head}{re.escape(pattern[j])}-{re.escape(pattern[j + 2])}]")
                i = j + 3
            else:
                chars = []
                while pattern[j] != "]":
                    if pattern[j] == "\\":
                        j += 1
                    chars.append(re.escape(pattern[j]))
                    j += 1
                out.append(head + "".join(chars) + "]")
                i = j
        else:
            out.append(re.escape(c))
        i += 1
    return "".join(out)


_GLOB_ATOMS = st.sampled_from(
    ["a", "b", ".", "*", "**", "?", "[ab]", "[!a]", "[a-c]", "[!.]", "{", "}", ",", "{a,}", "{,b*}", "\\*", "\\", "é",
     "[", "]", "[]", "[b-a]", "-", "!"]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    pattern=st.lists(_GLOB_ATOMS, max_size=7).map("".join),
    text=st.text(alphabet="ab.é*c\n", max_size=8),
    delimiters=st.sampled_from([None, [], ["."], ["a", "."]]),
)
def test_matches_the_reference(pattern: str, text: str, delimiters: list[str] | None) -> None:
    try:
        got = glob.match(pattern, delimiters, text)
    except BuiltinError as exc:
        assert exc.message.startswith("syntax error at offset ")
        return
    assert got == bool(re.fullmatch(_reference(pattern, delimiters), text))
