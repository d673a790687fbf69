"""The regex builtins (kubegate.evaluator.builtins.regex), driven by cases/regex.yaml.

The expected values of cases/regex.yaml were checked against Go's regexp package and the
glob-intersection library; the tests below cover the caches, hostile operands and
properties over generated patterns.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kubegate.evaluator.builtins.regex as regex
from kubegate.evaluator.builtins import _regex_re2
from kubegate.evaluator.builtins.registry import IMPLEMENTATIONS, BuiltinError

from ._regex_cases import load, run

NAMES = (
    "regex.match",
    "re_match",
    "regex.is_valid",
    "regex.split",
    "regex.find_n",
    "regex.find_all_string_submatch_n",
    "regex.replace",
    "regex.template_match",
    "regex.globs_match",
)


@pytest.mark.parametrize("case", load("regex"))
def test_case(case: dict[str, Any]) -> None:
    run(case)


def test_all_registered() -> None:
    for name in NAMES:
        assert name in IMPLEMENTATIONS
    assert IMPLEMENTATIONS["re_match"].impl is IMPLEMENTATIONS["regex.match"].impl


def test_results_are_arrays_of_strings() -> None:
    assert regex.find_n("a", "aa", -1) == ("a", "a")
    assert regex.find_all_string_submatch_n("(a)", "a", -1) == (("a", "a"),)
    assert regex.split(",", "a,b") == ("a", "b")


def test_cache_is_bounded_and_keeps_errors() -> None:
    cache = _regex_re2.CACHE
    for i in range(3 * _regex_re2._CACHE_ENTRIES):
        assert regex.match(f"^x{i}$", f"x{i}")
    assert len(cache) <= _regex_re2._CACHE_ENTRIES
    with pytest.raises(BuiltinError):
        regex.match("[", "x")
    assert cache.get("[") == "error parsing regexp: missing closing ]: `[`"
    with pytest.raises(BuiltinError, match="missing closing"):
        regex.match("[", "x")


def test_cache_bounds_program_size() -> None:
    cache = _regex_re2.Cache(100, 5000)
    for i in range(10):
        cache.put(i, _regex_re2.compile_re2(f"a{{1000}}{i}"))
    assert 1 <= len(cache) < 10
    assert cache._size <= 5000
    cache.put("huge", _regex_re2.compile_re2("a{1000}" * 10))  # larger than the budget: not kept
    assert cache.get("huge") is None
    cache.clear()
    assert len(cache) == 0


def test_threads_share_the_cache() -> None:
    errors: list[BaseException] = []

    def work(k: int) -> None:
        try:
            for i in range(200):
                pattern = f"^(a|b)+{(i + k) % 150}$"
                assert regex.match(pattern, f"ab{(i + k) % 150}")
                assert not regex.match(pattern, "c")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []


def test_replace_output_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(regex, "_REPLACE_LIMIT", 1000)
    with pytest.raises(BuiltinError, match="result too large"):
        regex.replace("a" * 100, "", "x" * 50)
    assert regex.replace("a" * 10, "a", "bb") == "b" * 20


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("(" * 1001 + ")" * 1001, "expression nests too deeply"),
        ("(" * 1000 + ")" * 1000, "expression nests too deeply"),
        ("a{100000000}", "invalid repeat count"),
        ("((a{10}){10}){11}", "invalid repeat count"),
    ],
)
def test_hostile_patterns_fail_like_go(pattern: str, message: str) -> None:
    with pytest.raises(BuiltinError) as info:
        regex.match(pattern, "a")
    assert info.value.message.startswith(f"error parsing regexp: {message}: `")
    assert not regex.is_valid(pattern)


@pytest.mark.parametrize(
    "pattern",
    ["(" * 999 + ")" * 999, "(?:" * 5000 + "a" + ")" * 5000, "a" * 100_000, "|".join(["ab"] * 10_000), "\\pL{1000}"],
)
def test_large_valid_patterns(pattern: str) -> None:
    assert regex.is_valid(pattern)


def test_programs_beyond_re2_budget_are_too_large() -> None:
    # A known deviation: Go accepts up to ~3.3M instructions, RE2 here has a 32 MiB budget.
    with pytest.raises(BuiltinError, match=r"^error parsing regexp: expression too large: `"):
        regex.match("\\pL{1000}" * 30, "a")


def test_many_matches_in_a_long_text() -> None:
    text = "ab" * 50_000
    assert len(regex.find_n("x*", text, -1)) == len(text) + 1
    assert len(regex.find_all_string_submatch_n("(a)(b)", text, -1)) == 50_000
    assert len(regex.split("b", text)) == 50_001
    assert regex.replace(text, "b", "") == "a" * 50_000


def test_lone_surrogates_do_not_break_anything() -> None:
    assert regex.match("a", "\ud800a")
    assert regex.find_n(".", "a\ud800b", -1)[0] == "a"
    assert isinstance(regex.replace("\ud800x", "x", "y"), str)
    assert isinstance(regex.is_valid("\udfff"), bool)


def test_template_cache_keys_on_delimiters() -> None:
    assert regex.template_match("a<b+>{c}", "a<bb>c", "{", "}") is False
    assert regex.template_match("a<b+>{c}", "abbb{c}", "<", ">") is True


def test_globs_match_is_bounded() -> None:
    assert regex.globs_match(".*a" * 200, "a.*" * 200) is True
    assert regex.globs_match("a*" * 2000 + "b", "a+" * 2000 + "c") is False


def test_coexists_with_regopy_in_one_process() -> None:
    # kubegate imports regopy (rego-cpp, with its own operator new) before the RE2 binding.
    code = (
        "import kubegate\n"
        "from kubegate.evaluator.builtins import regex\n"
        "for i in range(300):\n"
        "    assert regex.match('(?i)^latest%d$' % i, 'LATEST%d' % i)\n"
        "    assert regex.match('{,2}%d' % i, 'a{,2}%d' % i)\n"
        "    assert regex.replace('abc' * 20, '(b)', '<$1>').count('<b>') == 20\n"
        "import regopy\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


_ATOMS = st.sampled_from(
    ["a", "b", ".", "\\d", "\\b", "\\B", "^", "$", "[ab]", "[^a]", "x*", "(a)", "(a|b)", "(?:ab)", "(?i)", "(?P<n>a)",
     "*", "+", "?", "{2}", "{1,2}", "(", ")", "[", "]", "|", "\\", "\\C", "\\pL", "é", "\\Q.\\E", "{", "}", "(?s)"]
)  # fmt: skip
_PATTERNS = st.lists(_ATOMS, max_size=6).map("".join)
_TEXTS = st.text(alphabet="ab é.\n1", max_size=12)


@settings(max_examples=300, deadline=None)
@given(pattern=_PATTERNS, text=_TEXTS, n=st.integers(-2, 3), template=st.sampled_from(["$1", "${n}", "$$", "x$", "$0"]))
def test_generated_operands(pattern: str, text: str, n: int, template: str) -> None:
    try:
        matched = regex.match(pattern, text)
    except BuiltinError as exc:
        assert exc.message.startswith("error parsing regexp: ")
        assert regex.is_valid(pattern) is False
        calls: tuple[Callable[[], Any], ...] = (
            lambda: regex.find_n(pattern, text, n),
            lambda: regex.split(pattern, text),
            lambda: regex.replace(text, pattern, template),
            lambda: regex.find_all_string_submatch_n(pattern, text, n),
        )
        for call in calls:
            with pytest.raises(BuiltinError):
                call()
        return
    assert regex.is_valid(pattern)
    found = regex.find_n(pattern, text, -1)
    assert matched == bool(found)
    assert regex.find_n(pattern, text, n) == (found if n < 0 else found[:n])
    groups = regex.find_all_string_submatch_n(pattern, text, -1)
    assert tuple(g[0] for g in groups) == found
    assert all(isinstance(piece, str) for piece in regex.split(pattern, text))
    assert isinstance(regex.replace(text, pattern, template), str)
