"""kubegate fmt: opa fmt's flags (-w, -l, -d, --fail, --v0-v1), paths, stdin and exit codes."""

from __future__ import annotations

import re
from pathlib import Path

from click.testing import CliRunner

from kubegate.cli.fmt_cmd import fmt_command, unified_diff
from kubegate.rego.formatter import format_source

FORMATTED = "package a\n\np if input.x\n"
UNFORMATTED = "package   a\np if {   input.x }\n"
V0 = "package b\n\np[x] { x := input.xs[_] }\n"
V0_AS_V1 = "package b\n\np contains x if x := input.xs[_]\n"
BROKEN = "package c\n\np := \n"


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(fmt_command, list(args), input=stdin)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout, result.stderr


def write(path: Path, text: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return str(path)


def apply_unified_diff(original: str, diff: str) -> str:
    """Applies a unified diff of one file (enough of patch(1) to check ours)."""
    old = original.splitlines(keepends=True)
    out: list[str] = []
    pos = 0
    previous = ""
    for line in diff.splitlines(keepends=True):
        hunk = re.match(r"@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@", line)
        if hunk:
            start = int(hunk.group(1)) - (0 if hunk.group(2) == "0" else 1)
            out.extend(old[pos:start])
            pos = start
        elif line.startswith(("---", "+++")):
            continue
        elif line.startswith(" "):
            out.append(line[1:])
            pos += 1
        elif line.startswith("-"):
            pos += 1
        elif line.startswith("+"):
            out.append(line[1:])
        elif line.startswith("\\") and previous[:1] in (" ", "+"):
            out[-1] = out[-1].removesuffix("\n")  # "\ No newline at end of file" after a kept line
        previous = line
    out.extend(old[pos:])
    return "".join(out)


# ------------------------------------------------------------------ stdin and stdout


def test_stdin_is_formatted_to_stdout_without_paths_or_with_dash() -> None:
    for args in ((), ("-",)):
        code, out, err = run(*args, stdin=UNFORMATTED)
        assert (code, out, err) == (0, FORMATTED, "")


def test_files_and_directories_are_formatted_to_stdout_in_order(tmp_path: Path) -> None:
    write(tmp_path / "pol" / "b.rego", V0_AS_V1)
    write(tmp_path / "pol" / "sub" / "a.rego", UNFORMATTED)
    write(tmp_path / "pol" / "notes.txt", "not rego")
    single = write(tmp_path / "policy.txt", UNFORMATTED)  # named explicitly: formatted whatever its name
    code, out, err = run(str(tmp_path / "pol"), single)
    assert (code, err) == (0, "")
    assert out == V0_AS_V1 + FORMATTED + FORMATTED


# ------------------------------------------------------------------ -w, -l, -d


def test_write_rewrites_only_the_files_that_change(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    tidy = write(tmp_path / "tidy.rego", FORMATTED)
    before = Path(tidy).stat().st_mtime_ns
    code, out, err = run("-w", str(tmp_path))
    assert (code, out, err) == (0, "", "")
    assert Path(messy).read_text("utf-8") == FORMATTED
    assert Path(tidy).stat().st_mtime_ns == before


def test_list_names_the_files_whose_formatting_differs(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    write(tmp_path / "tidy.rego", FORMATTED)
    code, out, _ = run("-l", str(tmp_path))
    assert (code, out) == (0, messy + "\n")
    assert Path(messy).read_text("utf-8") == UNFORMATTED


def test_list_and_write_together_list_and_rewrite(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    code, out, _ = run("-l", "-w", messy)
    assert (code, out) == (0, messy + "\n")
    assert Path(messy).read_text("utf-8") == FORMATTED


def test_diff_is_a_unified_diff_that_turns_the_file_into_its_format(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    write(tmp_path / "tidy.rego", FORMATTED)
    code, out, _ = run("-d", str(tmp_path))
    assert code == 0
    assert out.startswith(f"--- {messy}\n+++ {messy}\n@@ ")
    assert apply_unified_diff(UNFORMATTED, out) == FORMATTED


def test_diff_headers_are_git_style_for_relative_names_and_mark_a_missing_newline() -> None:
    diff = unified_diff("package a\np := 1", "package a\n\np := 1\n", "pol/a.rego")
    assert diff.startswith("--- a/pol/a.rego\n+++ b/pol/a.rego\n")
    assert "\\ No newline at end of file\n" in diff
    assert apply_unified_diff("package a\np := 1", diff) == "package a\n\np := 1\n"
    assert unified_diff(FORMATTED, FORMATTED, "x.rego") == ""


# ------------------------------------------------------------------ --fail and exit codes


def test_fail_exits_1_when_a_file_would_change(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    tidy = write(tmp_path / "tidy.rego", FORMATTED)
    assert run("--fail", "-l", tidy)[:2] == (0, "")
    assert run("--fail", "-l", str(tmp_path))[:2] == (1, messy + "\n")
    code, out, _ = run("--fail", "-d", messy)
    assert code == 1
    assert apply_unified_diff(UNFORMATTED, out) == FORMATTED


def test_fail_alone_prints_no_text_and_names_the_files_on_stderr(tmp_path: Path) -> None:
    messy = write(tmp_path / "messy.rego", UNFORMATTED)
    write(tmp_path / "tidy.rego", FORMATTED)
    code, out, err = run("--fail", str(tmp_path))
    assert (code, out) == (1, "")
    assert err == f"{messy}: formatting differs\n"
    assert Path(messy).read_text("utf-8") == UNFORMATTED


def test_parse_errors_exit_2_with_located_messages_and_the_other_files_are_processed(tmp_path: Path) -> None:
    broken = write(tmp_path / "a_broken.rego", BROKEN)
    messy = write(tmp_path / "b_messy.rego", UNFORMATTED)
    code, out, err = run("-l", "--fail", str(tmp_path))
    assert code == 2
    assert out == messy + "\n"
    assert err.startswith(f"error: {broken}:3:5: rego_parse_error: unexpected end of input\n")
    assert "Traceback" not in err


def test_v0_files_need_v0_v1_and_the_error_says_so(tmp_path: Path) -> None:
    v0 = write(tmp_path / "v0.rego", V0)
    code, out, err = run(v0)
    assert (code, out) == (2, "")
    assert f"error: {v0}:3:1: rego_parse_error: `if` keyword is required before rule body" in err
    assert f"note: {v0} is Rego v0: format it with --v0-v1\n" in err
    assert run("--v0-v1", v0) == (0, V0_AS_V1, "")


def test_drop_v0_imports_removes_rego_v1_and_future_imports() -> None:
    source = "package a\n\nimport future.keywords.if\nimport rego.v1\n\np if input.x\n"
    assert run(stdin=source) == (0, source, "")
    assert run("--drop-v0-imports", stdin=source) == (0, FORMATTED, "")


def test_missing_path_is_an_error_and_the_rest_still_formats(tmp_path: Path) -> None:
    tidy = write(tmp_path / "tidy.rego", FORMATTED)
    missing = str(tmp_path / "nope.rego")
    code, out, err = run(missing, tidy)
    assert (code, out) == (2, FORMATTED)
    assert err == f"error: {missing}: file_not_found: no such file or directory\n"


def test_files_that_are_not_utf8_are_reported(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.rego"
    bad.write_bytes(b"package a\n\n# caf\xe9\np := 1\n")
    code, _, err = run(str(bad))
    assert code == 2
    assert err.startswith(f"error: {bad}: invalid_unicode: not UTF-8 text")


def test_write_refuses_standard_input() -> None:
    code, _, err = run("-w", stdin=UNFORMATTED)
    assert code == 2
    assert "-w/--write cannot rewrite standard input" in err


def test_output_is_what_the_formatter_returns_for_a_commented_module(tmp_path: Path) -> None:
    source = "package a # pkg\n# about p\np := [1, # one\n  2]\n"
    path = write(tmp_path / "c.rego", source)
    expected = format_source(source, path)
    assert "# about p\n" in expected
    assert run(path) == (0, expected, "")
