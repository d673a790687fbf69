"""Writing YAML as OPA's ``yaml.marshal`` does: the value's JSON read back by go-yaml v2 and
written by its libyaml-derived emitter (https://github.com/go-yaml/yaml/blob/v2.4.0/encode.go).

Here libyaml itself writes, fed PyYAML events: block style, keys in go-yaml's
natural order (``sorter.go``), strings that would read back as another type
double-quoted, multi-line strings as literal blocks, integers beyond uint64 and
floats in Go's ``%g``.
"""

from __future__ import annotations

import math
from typing import Any

import yaml
from yaml import events as ev

from kubegate.evaluator.builtins._gocompat import GoError, format_float_g
from kubegate.evaluator.builtins._gojson import marshal as json_marshal_text
from kubegate.evaluator.builtins._goyaml_resolve import _BASE60, _INT64, _STR, _UINT64_MAX, resolve_plain
from kubegate.evaluator.values import Key, Set, from_key

__all__ = ["value_to_yaml"]


# ------------------------------------------------------------------ writing


def _key_less_key(text: str) -> Any:
    """A sort key for go-yaml v2's ``keyList.Less`` on strings (letters before digits,
    digit runs compared as numbers)."""
    return _NaturalKey(text)


class _NaturalKey:
    __slots__ = ("s",)

    def __init__(self, s: str) -> None:
        self.s = s

    def __lt__(self, other: _NaturalKey) -> bool:
        return _go_key_less(self.s, other.s)


def _is_digit(c: str) -> bool:
    return c.isdigit()


def _go_key_less(a: str, b: str) -> bool:
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            continue
        al, bl = ca.isalpha(), cb.isalpha()
        if al and bl:
            return ca < cb
        if al or bl:
            return bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and _is_digit(a[ai]):
            an = an * 10 + _digit(a[ai])
            ai += 1
        bi = i
        while bi < len(b) and _is_digit(b[bi]):
            bn = bn * 10 + _digit(b[bi])
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


def _digit(c: str) -> int:
    return ord(c) - ord("0") if "0" <= c <= "9" else int(c) if c.isdecimal() else 0


def _string_event(text: str) -> ev.ScalarEvent:
    rtag, _ = resolve_plain("", text)
    if "\n" in text:
        style: str | None = "|"
    elif rtag == _STR and not _BASE60.match(text):
        style = None
    else:
        style = '"'
    return ev.ScalarEvent(None, None, (True, True), text, style=style)


def _plain(text: str) -> ev.ScalarEvent:
    return ev.ScalarEvent(None, None, (True, True), text)


def _number_event(value: int | float) -> ev.ScalarEvent:
    if type(value) is float:
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e21:
            value = int(value)
        else:
            return _plain(format_float_g(value))
    assert type(value) is int
    if _INT64[0] <= value <= _UINT64_MAX:
        return _plain(str(value))
    return _plain(format_float_g(float(value)))  # go-yaml reads such a JSON number as a float64


def _events(value: Any) -> list[ev.Event]:
    """The YAML events of a value's JSON form, iteratively."""
    out: list[ev.Event] = [ev.StreamStartEvent(), ev.DocumentStartEvent(explicit=False)]
    work: list[Any] = [value]
    while work:
        item = work.pop()
        t = type(item)
        if isinstance(item, ev.Event):
            out.append(item)
        elif t is str:
            out.append(_string_event(item))
        elif t is bool:
            out.append(_plain("true" if item else "false"))
        elif item is None:
            out.append(_plain("null"))
        elif t is int or t is float:
            out.append(_number_event(item))
        elif t is list or t is tuple or t is Set:
            items = item.values() if t is Set else item
            out.append(ev.SequenceStartEvent(None, None, True, flow_style=False))
            work.append(ev.SequenceEndEvent())
            work.extend(reversed(items))
        elif t is dict:
            pairs: dict[str, Any] = {}
            for k, v in item.items():
                key = from_key(k)
                pairs[key if type(key) is str else json_marshal_text(key)] = v
            out.append(ev.MappingStartEvent(None, None, True, flow_style=False))
            work.append(ev.MappingEndEvent())
            for k in sorted(pairs, key=_key_less_key, reverse=True):
                work.append(pairs[k])
                work.append(k)
        elif t is Key:
            work.append(item.value)
        else:
            raise GoError(f"yaml: cannot marshal type {t.__name__}")
    out += [ev.DocumentEndEvent(explicit=False), ev.StreamEndEvent()]
    return out


def value_to_yaml(value: Any) -> str:
    """OPA's ``yaml.marshal`` of a value."""
    dumper: Any = getattr(yaml, "CDumper", yaml.Dumper)
    text = yaml.emit(_events(value), Dumper=dumper, allow_unicode=True)
    return str(text)
