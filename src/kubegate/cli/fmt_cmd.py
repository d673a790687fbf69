"""``kubegate fmt``: format Rego files, as ``opa fmt`` does.

https://www.openpolicyagent.org/docs/latest/cli/#opa-fmt. Each PATH is a
file or a directory (its ``*.rego`` files, recursively, in sorted order);
``-`` or no PATH reads standard input. A file named on the command line is
formatted whatever its extension. The layout is :mod:`kubegate.rego.formatter`'s
(OPA's rules; comments kept).

Output: without flags, the formatted text on standard output; ``-w`` rewrites
the files that change instead; ``-l`` lists them; ``-d`` prints a unified diff
per changed file. ``--fail`` alone prints nothing but a line on standard
error per file that would change.

Exit status: 0 when everything was formatted (and, with ``--fail``, nothing
would change); 1 with ``--fail`` when a file would change; 2 when a file
cannot be read or parsed (``error: file:line:col: rego_parse_error: ...``;
the other files are still processed) or the flags are wrong.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click

from kubegate.errors import InputError, KubegateError, Location, RegoParseError
from kubegate.rego.ast import RegoVersion
from kubegate.rego.formatter import format_source
from kubegate.rego.parser import parse_module

__all__ = ["fmt_command", "unified_diff"]

EXIT_OK, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2
STDIN = "-"
_STDIN_NAME = "<stdin>"


@dataclass(frozen=True, slots=True)
class _Target:
    """One input: a file, or standard input when ``path`` is ``None``."""

    name: str
    path: Path | None


def _targets(paths: tuple[str, ...]) -> Iterator[_Target | KubegateError]:
    """The inputs named by ``paths``: directories expanded to their ``*.rego`` files."""
    for raw in paths or (STDIN,):
        if raw == STDIN:
            yield _Target(_STDIN_NAME, None)
            continue
        path = Path(raw)
        if path.is_dir():
            for found in sorted(p for p in path.rglob("*.rego") if p.is_file()):
                yield _Target(str(found), found)
        elif path.is_file():
            yield _Target(raw, path)
        else:
            yield InputError("no such file or directory", Location(raw), code="file_not_found")


def _read(target: _Target) -> str:
    try:
        data = sys.stdin.buffer.read() if target.path is None else target.path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", Location(target.name), code="file_unreadable") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text: {exc.reason}", Location(target.name), code="invalid_unicode") from None


def _reads_as_v0(source: str, name: str) -> bool:
    try:
        parse_module(source, name, "v0")
    except KubegateError:
        return False
    return True


def unified_diff(original: str, formatted: str, name: str) -> str:
    """A unified diff from ``original`` to ``formatted``, or ``""`` when they are equal.

    The headers are ``a/name`` and ``b/name`` for a relative ``name`` (as git
    writes them, for ``patch -p1``), ``name`` twice otherwise.
    """
    relative = not Path(name).is_absolute() and name != _STDIN_NAME
    lines = list(
        difflib.unified_diff(
            original.splitlines(keepends=True),
            formatted.splitlines(keepends=True),
            fromfile=f"a/{name}" if relative else name,
            tofile=f"b/{name}" if relative else name,
        )
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path())
@click.option("-w", "--write", "write", is_flag=True, help="Rewrite the files whose formatting differs, in place.")
@click.option("-l", "--list", "list_files", is_flag=True, help="List the files whose formatting differs.")
@click.option("-d", "--diff", "diff", is_flag=True, help="Print a unified diff for each file that would change.")
@click.option("--fail", is_flag=True, help="Exit with status 1 if any file would change.")
@click.option("--v0-v1", "v0_v1", is_flag=True, help="Read Rego v0 and write it as Rego v1 (if, contains).")
@click.option(
    "--drop-v0-imports", is_flag=True, help="Drop `future.keywords` and `rego.v1` imports (Rego v1 has them built in)."
)
@click.pass_context
def fmt_command(
    ctx: click.Context,
    paths: tuple[str, ...],
    write: bool,
    list_files: bool,
    diff: bool,
    fail: bool,
    v0_v1: bool,
    drop_v0_imports: bool,
) -> None:
    """Format Rego files (directories: every *.rego file in them; - or nothing: standard input).

    Rego is read as v1, as `opa fmt` does; use --v0-v1 for Rego v0 policies.
    Comments and METADATA blocks are kept.
    """
    if write and (STDIN in paths or not paths):
        raise click.UsageError("-w/--write cannot rewrite standard input")
    version: RegoVersion = "v0" if v0_v1 else "v1"
    errors = changed = 0
    for target in _targets(paths):
        if isinstance(target, KubegateError):
            click.echo(f"error: {target}", err=True)
            errors += 1
            continue
        original = ""
        try:
            original = _read(target)
            formatted = format_source(original, target.name, version=version, drop_v0_imports=drop_v0_imports)
        except KubegateError as exc:
            click.echo(f"error: {exc}", err=True)
            if version == "v1" and isinstance(exc, RegoParseError) and _reads_as_v0(original, target.name):
                click.echo(f"note: {target.name} is Rego v0: format it with --v0-v1", err=True)
            errors += 1
            continue
        differs = formatted != original
        changed += differs
        if list_files and differs:
            click.echo(target.name)
        if diff and differs:
            click.echo(unified_diff(original, formatted, target.name), nl=False)
        if write and differs and target.path is not None:
            target.path.write_bytes(formatted.encode("utf-8"))
        if not (list_files or diff or write):
            if fail:
                if differs:
                    click.echo(f"{target.name}: formatting differs", err=True)
            else:
                click.echo(formatted, nl=False)
    if errors:
        ctx.exit(EXIT_ERROR)
    if fail and changed:
        ctx.exit(EXIT_CHANGED)
