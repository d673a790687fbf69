"""Go ``regexp`` semantics on RE2 (the ``google-re2`` binding) for the regex builtins.

OPA's regex builtins (https://github.com/open-policy-agent/opa/blob/main/v1/topdown/regex.go)
use Go's ``regexp`` package, whose syntax and matching are RE2's
(https://github.com/golang/go/blob/master/src/regexp/syntax/parse.go). This module compiles
patterns with RE2 and adds what Go does differently:

* error messages in Go's shape, ``error parsing regexp: missing closing ]: `[a```, mapped
  from RE2's error codes;
* what Go rejects and RE2 accepts: ``\\C``, capture names that are not ``[A-Za-z0-9_]+``,
  expressions nested more than 1000 deep (estimated);
* Go's iteration over successive matches (``FindAll``: an empty match right after a previous
  match is skipped), ``Split``, ``ReplaceAllString`` with ``Expand`` templates (``$1``,
  ``${name}``, ``$$``).

Texts are matched as UTF-8 bytes, as Go does; match offsets are byte offsets. Compiled
patterns (and compile errors) are kept in a bounded, thread-safe LRU cache, as OPA keeps a
regex cache.
"""

from __future__ import annotations

import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Hashable, Iterator

from kubegate.evaluator.builtins._re2_loader import re2
from kubegate.evaluator.builtins._regex_syntax import go_error, scan
from kubegate.evaluator.builtins.registry import BuiltinError

__all__ = [
    "CACHE",
    "Cache",
    "GoRegexp",
    "compile_go",
    "compile_re2",
    "decode",
    "encode",
]

_MAX_MEM = 32 << 20  # RE2's budget for one pattern (Go allows ~3.3M instructions)
_CACHE_ENTRIES = 100  # as OPA's regexCacheMaxSize
_CACHE_INSTRUCTIONS = 8_000_000  # total RE2 program size kept in the cache
_UNANCHORED = re2._re2.RE2.Anchor.UNANCHORED
_ANCHOR_BOTH = re2._re2.RE2.Anchor.ANCHOR_BOTH


def _options() -> object:
    options = re2.Options()
    options.log_errors = False
    options.max_mem = _MAX_MEM
    return options


_OPTIONS = _options()

# RE2's error code texts (re2/regexp.cc) -> Go's (regexp/syntax ErrorCode), longest first.
_CODES = (
    ("invalid character class range", "invalid character class range"),
    ("no argument for repetition operator", "missing argument to repetition operator"),
    ("pattern too large - reverse compile failed", "expression too large"),
    ("pattern too large - compile failed", "expression too large"),
    ("invalid named capture group", "invalid named capture"),
    ("invalid character class", "invalid character class"),
    ("invalid escape sequence", "invalid escape sequence"),
    ("invalid repetition size", "invalid repeat count"),
    ("bad repetition operator", "invalid nested repetition operator"),
    ("invalid perl operator", "invalid or unsupported Perl syntax"),
    ("unexpected error", "regexp/syntax: internal error"),
    ("invalid UTF-8", "invalid UTF-8"),
    ("trailing \\", "trailing backslash at end of expression"),
    ("unexpected )", "unexpected )"),
    ("missing ]", "missing closing ]"),
    ("missing )", "missing closing )"),
)


def encode(text: str) -> bytes:
    """``text`` as UTF-8 (lone surrogates, impossible in OPA, pass through as raw bytes)."""
    return text.encode("utf-8", "surrogatepass")


def decode(data: bytes) -> str:
    """The inverse of :func:`encode`; never raises."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def _map_error(pattern: str, text: str) -> str:
    for cpp, go in _CODES:
        if text.startswith(cpp):
            arg = text[len(cpp) + 2 :] if text.startswith(": ", len(cpp)) else ""
            if go == "expression too large":
                arg = pattern
            elif go == "invalid repeat count" and arg.endswith("}?") and _bad_counts(arg[1:-2]):
                arg = arg[:-1]  # Go checks the counts before it reads the non-greedy `?`
            return go_error(go, arg)
    return go_error("regexp/syntax: internal error", pattern)  # pragma: no cover - unknown RE2 code


def _bad_counts(body: str) -> bool:
    """Whether the ``min,max`` of a repetition are out of Go's bounds by themselves."""
    low, comma, high = body.partition(",")
    try:
        lo = int(low)
        hi = int(high) if high else (-1 if comma else lo)
    except ValueError:
        return False
    return lo > 1000 or hi > 1000 or (hi >= 0 and lo > hi)


def rune_width(data: bytes, pos: int) -> int:
    """The width of the rune at ``pos`` as Go's ``utf8.DecodeRune`` counts it (0 at the end,
    1 for an invalid byte)."""
    if pos >= len(data):
        return 0
    lead = data[pos]
    if lead < 0x80:
        return 1
    size = 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        data[pos : pos + size].decode("utf-8")
    except UnicodeDecodeError:
        return 1
    return size


class GoRegexp:
    """A compiled pattern with Go's matching API on UTF-8 bytes. Spans are ``(start, end)``
    byte offsets, ``(-1, -1)`` for a group that did not participate."""

    __slots__ = ("_prog", "group_names", "pattern", "size")

    def __init__(self, pattern: str, prog: object, names: list[str] | None = None) -> None:
        self.pattern = pattern
        self._prog = prog
        self.size: int = prog.ProgramSize()  # type: ignore[attr-defined]
        count: int = prog.NumberOfCapturingGroups()  # type: ignore[attr-defined]
        if names is None or len(names) != count:
            names = [""] * count
            for name, index in prog.NamedCapturingGroups():  # type: ignore[attr-defined]
                names[index - 1] = decode(name)
        self.group_names = ("", *names)

    def search(self, data: bytes, pos: int = 0) -> list[tuple[int, int]] | None:
        """The leftmost-first match starting at or after ``pos`` (with the whole text as context)."""
        while True:
            spans: list[tuple[int, int]] = self._prog.Match(_UNANCHORED, data, pos, len(data))  # type: ignore[attr-defined]
            start, end = spans[0]
            if start < 0:
                return None
            if start == end and start < len(data) and data[start] & 0xC0 == 0x80:
                # RE2's \B holds between the bytes of a character; Go only looks at
                # character boundaries.
                pos = start + 1
                continue
            return spans

    def matches(self, text: str) -> bool:
        """Go's ``MatchString``: whether the pattern matches anywhere in ``text``."""
        return self.search(encode(text)) is not None

    def fullmatch(self, text: str) -> bool:
        """Whether the pattern matches the whole of ``text``."""
        data = encode(text)
        spans = self._prog.Match(_ANCHOR_BOTH, data, 0, len(data))  # type: ignore[attr-defined]
        return bool(spans[0][0] >= 0)

    def find_all(self, data: bytes, n: int) -> Iterator[list[tuple[int, int]]]:
        """Go's ``allMatches``: at most ``n`` successive matches (all when ``n < 0``); an
        empty match abutting the previous match is skipped."""
        end = len(data)
        if n < 0:
            n = end + 1
        pos, found, prev_end = 0, 0, -1
        while found < n and pos <= end:
            spans = self.search(data, pos)
            if spans is None:
                return
            start, stop = spans[0]
            accept = True
            if stop == pos:
                if start == prev_end:
                    accept = False
                width = rune_width(data, pos)
                pos = pos + width if width > 0 else end + 1
            else:
                pos = stop
            prev_end = stop
            if accept:
                found += 1
                yield spans

    def split(self, data: bytes) -> list[bytes]:
        """Go's ``Split(s, -1)``."""
        if self.pattern and not data:
            return [b""]
        pieces: list[bytes] = []
        beg = end = 0
        for spans in self.find_all(data, -1):
            end = spans[0][0]
            if spans[0][1] != 0:
                pieces.append(data[beg:end])
            beg = spans[0][1]
        if end != len(data):
            pieces.append(data[beg:])
        return pieces

    def replace_all(self, data: bytes, template: str, limit: int) -> bytes:
        """Go's ``ReplaceAllString``: ``template`` is expanded (``$1``, ``${name}``, ``$$``)
        for each match. Raises :class:`BuiltinError` past ``limit`` bytes of output."""
        pieces = _parse_template(template)
        out = bytearray()
        last_end = pos = 0
        end = len(data)
        while pos <= end:
            spans = self.search(data, pos)
            if spans is None:
                break
            start, stop = spans[0]
            out += data[last_end:start]
            if stop > last_end or start == 0:
                self._expand(out, pieces, data, spans)
            if len(out) > limit:
                raise BuiltinError("regex.replace: result too large")
            last_end = stop
            width = rune_width(data, pos)
            if pos + width > stop:
                pos += width
            elif pos + 1 > stop:
                pos += 1
            else:
                pos = stop
        out += data[last_end:]
        return bytes(out)

    def _expand(
        self, out: bytearray, pieces: list[bytes | int | str], data: bytes, spans: list[tuple[int, int]]
    ) -> None:
        for piece in pieces:
            if type(piece) is bytes:
                out += piece
            elif type(piece) is int:
                if piece < len(spans) and spans[piece][0] >= 0:
                    out += data[spans[piece][0] : spans[piece][1]]
            else:
                for index, name in enumerate(self.group_names):
                    if name == piece and index < len(spans) and spans[index][0] >= 0:
                        out += data[spans[index][0] : spans[index][1]]
                        break


def _is_name_char(ch: str) -> bool:
    return ch == "_" or unicodedata.category(ch)[0] == "L" or unicodedata.category(ch) == "Nd"


def _parse_template(template: str) -> list[bytes | int | str]:
    """Go's ``Regexp.expand`` template as pieces: literal bytes, group numbers, group names."""
    pieces: list[bytes | int | str] = []
    literal: list[str] = []
    i, n = 0, len(template)
    while i < n:
        dollar = template.find("$", i)
        if dollar < 0:
            literal.append(template[i:])
            break
        literal.append(template[i:dollar])
        i = dollar + 1
        if i < n and template[i] == "$":
            literal.append("$")
            i += 1
            continue
        brace = i < n and template[i] == "{"
        j = i + 1 if brace else i
        k = j
        while k < n and _is_name_char(template[k]):
            k += 1
        if k == j or (brace and (k >= n or template[k] != "}")):
            literal.append("$")  # malformed: the $ is literal text
            continue
        name = template[j:k]
        i = k + 1 if brace else k
        num = 0
        for ch in name:
            if not "0" <= ch <= "9" or num >= 100_000_000:
                num = -1
                break
            num = num * 10 + ord(ch) - 48
        if name[0] == "0" and len(name) > 1:
            num = -1
        if literal:
            pieces.append(encode("".join(literal)))
            literal = []
        pieces.append(num if num >= 0 else name)
    if literal:
        pieces.append(encode("".join(literal)))
    return pieces


class Cache:
    """A bounded, thread-safe LRU of compiled patterns and compile errors (their messages),
    limited both in entries and in the total size of the RE2 programs it keeps."""

    def __init__(self, entries: int, instructions: int) -> None:
        self._entries = entries
        self._instructions = instructions
        self._size = 0
        self._items: OrderedDict[Hashable, GoRegexp | str] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> GoRegexp | str | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: Hashable, value: GoRegexp | str) -> None:
        cost = value.size if type(value) is GoRegexp else 0
        if cost > self._instructions:
            return
        with self._lock:
            old = self._items.pop(key, None)
            if type(old) is GoRegexp:
                self._size -= old.size
            self._items[key] = value
            self._size += cost
            while len(self._items) > self._entries or self._size > self._instructions:
                _, evicted = self._items.popitem(last=False)
                if type(evicted) is GoRegexp:
                    self._size -= evicted.size

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._size = 0

    def __len__(self) -> int:
        return len(self._items)


CACHE = Cache(_CACHE_ENTRIES, _CACHE_INSTRUCTIONS)


def _compile_uncached(pattern: str) -> GoRegexp | str:
    try:
        prog = re2._re2.RE2(encode(pattern), _OPTIONS)
    except MemoryError:
        return go_error("expression too large", pattern)
    problem, position, names = scan(pattern)
    if not prog.ok():
        error = _map_error(pattern, decode(prog.error()))
        if problem is not None and _valid_prefix(pattern[:position]):
            return problem  # Go reports the earlier, Go-only error
        return error
    if problem is not None:
        return problem
    return GoRegexp(pattern, prog, names)


def _valid_prefix(prefix: str) -> bool:
    """Whether RE2 finds no error in ``prefix`` but for unclosed groups and classes."""
    prog = re2._re2.RE2(encode(prefix), _OPTIONS)
    if prog.ok():
        return True
    text = decode(prog.error())
    return text.startswith(("missing )", "missing ]"))


def compile_go(pattern: str) -> GoRegexp:
    """``pattern`` compiled with Go's ``regexp.Compile`` semantics, from the cache when it
    is there. Raises :class:`BuiltinError` with Go's message for an invalid pattern."""
    found = CACHE.get(pattern)
    if found is None:
        found = _compile_uncached(pattern)
        CACHE.put(pattern, found)
    if type(found) is str:
        raise BuiltinError(found)
    return found  # type: ignore[return-value]


def compile_re2(pattern: str) -> GoRegexp:
    """An RE2 expression built by this package (no Go checks). Raises :class:`BuiltinError`
    when RE2 rejects it (too large)."""
    try:
        prog = re2._re2.RE2(encode(pattern), _OPTIONS)
    except MemoryError:
        raise BuiltinError("pattern too large") from None
    if not prog.ok():
        raise BuiltinError(decode(prog.error()))
    return GoRegexp(pattern, prog)
