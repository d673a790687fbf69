"""A go.mod reader for what the proxy needs: ``module``, ``go``, ``require``
(with ``// indirect``), ``exclude``, ``replace`` and ``retract`` (single
versions and ``[low, high]`` intervals, with their rationale comments).

Follows the grammar of https://go.dev/ref/mod#go-mod-file-grammar: one
directive per line or a parenthesised block, ``//`` comments, interpreted
(``"..."``) and raw (`` `...` ``) strings. A directive the proxy has no use
for is skipped; a malformed ``module`` line is an error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from kubegate.errors import InputError, Location
from kubegate.goproxy import semver

__all__ = ["GoMod", "Requirement", "Retraction", "parse_gomod"]

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|`[^`]*`|\[|\]|,|\(|\)|[^\s\[\],()"`]+')


@dataclass(frozen=True)
class Requirement:
    """``require path version`` (``indirect`` from a ``// indirect`` comment)."""

    path: str
    version: str
    indirect: bool = False


@dataclass(frozen=True)
class Retraction:
    """A ``retract`` of ``low``..``high`` (both equal for one version)."""

    low: str
    high: str
    rationale: str = ""

    def covers(self, version: str) -> bool:
        return semver.compare(self.low, version) <= 0 <= semver.compare(self.high, version)


@dataclass(frozen=True)
class GoMod:
    module: str
    go: str
    requires: tuple[Requirement, ...]
    excludes: tuple[tuple[str, str], ...]
    replaces: tuple[tuple[str, str, str, str], ...]
    retracts: tuple[Retraction, ...]

    def retracted(self, version: str) -> Retraction | None:
        """The retraction covering ``version``, if any."""
        return next((r for r in self.retracts if r.covers(version)), None)

    def to_input(self) -> dict[str, object]:
        """The ``input.module.go_mod`` shape policies see."""
        return {
            "module": self.module,
            "go": self.go,
            "require": [{"path": r.path, "version": r.version, "indirect": r.indirect} for r in self.requires],
            "retract": [{"low": r.low, "high": r.high, "rationale": r.rationale} for r in self.retracts],
        }


def _unquote(token: str) -> str:
    if token.startswith('"'):
        value = json.loads(token)
        return str(value)
    if token.startswith("`"):
        return token[1:-1]
    return token


def _split(line: str) -> tuple[list[str], str]:
    """Tokens of a line and its trailing comment (without ``//``)."""
    comment = ""
    tokens: list[str] = []
    pos = 0
    while pos < len(line):
        if line[pos] in " \t\r\ufeff":
            pos += 1
            continue
        if line.startswith("//", pos):
            comment = line[pos + 2 :].strip()
            break
        m = _TOKEN.match(line, pos)
        if m is None:
            raise ValueError(f"unterminated string at column {pos + 1}")
        tokens.append(m.group(0))
        pos = m.end()
    return tokens, comment


_KNOWN = ("module", "go", "require", "exclude", "replace", "retract")
"""Directives whose arguments are checked (others, such as ``toolchain`` or ``godebug``, are
ignored, as the go command's lax parser does for dependencies' go.mod files)."""


def parse_gomod(text: str, source: str = "go.mod") -> GoMod:
    """Parses a go.mod text.

    Raises:
        InputError: ``gomod_invalid`` (no or malformed ``module``, a bad string, a known
            directive with the wrong arguments, an unclosed block), located at its line.
    """
    module = go = ""
    requires: list[Requirement] = []
    excludes: list[tuple[str, str]] = []
    replaces: list[tuple[str, str, str, str]] = []
    retracts: list[Retraction] = []
    block: str | None = None
    pending_comment: list[str] = []
    for number, raw in enumerate(text.splitlines(), 1):
        try:
            tokens, comment = _split(raw)
            if not tokens:
                pending_comment = [*pending_comment, comment] if comment else []
                continue
            if block is not None:
                if tokens == [")"]:
                    block = None
                    continue
                verb, args = block, tokens
            elif len(tokens) >= 2 and tokens[-1] == "(":
                block = tokens[0]
                pending_comment = []
                continue
            else:
                verb, args = tokens[0], tokens[1:]
            args = [_unquote(a) if a not in "[],()" else a for a in args]
            rationale = " ".join(pending_comment + ([comment] if comment else []))
            pending_comment = []
            if verb == "module" and len(args) == 1:
                module = args[0]
            elif verb == "go" and len(args) == 1:
                go = args[0]
            elif verb == "require" and len(args) == 2:
                requires.append(Requirement(args[0], args[1], comment == "indirect" or comment.startswith("indirect;")))
            elif verb == "exclude" and len(args) == 2:
                excludes.append((args[0], args[1]))
            elif verb == "replace" and "=>" in args:
                i = args.index("=>")
                old, new = args[:i], args[i + 1 :]
                replaces.append((old[0], old[1] if len(old) > 1 else "", new[0], new[1] if len(new) > 1 else ""))
            elif verb == "retract":
                if len(args) == 1:
                    retracts.append(Retraction(args[0], args[0], rationale))
                elif len(args) == 5 and args[0] == "[" and args[2] == "," and args[4] == "]":
                    retracts.append(Retraction(args[1], args[3], rationale))
                else:
                    raise ValueError(verb)
            elif verb in _KNOWN:  # a known directive with the wrong arguments: never skipped silently
                raise ValueError(verb)
        except (ValueError, IndexError):
            raise InputError(f"malformed line {number}", Location(source, number), code="gomod_invalid") from None
    if block is not None:
        raise InputError(f"unclosed {block} ( block", Location(source, len(text.splitlines())), code="gomod_invalid")
    if not module:
        raise InputError("go.mod has no module directive", Location(source), code="gomod_invalid")
    return GoMod(module, go, tuple(requires), tuple(excludes), tuple(replaces), tuple(retracts))
