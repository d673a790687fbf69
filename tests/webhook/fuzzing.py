"""A seeded mutator of AdmissionReview bodies, for the webhook fuzz tests and ``benchmarks/fuzz.py``.

Each case starts from one of the test objects (objects.yaml) wrapped in an
AdmissionReview as the API server sends it, then applies one to three
mutations an attacker or a broken client would try: request/object confusion,
deep nesting, lone surrogates, huge numbers, type confusion in any field,
missing fields, odd Unicode, huge strings and key counts, duplicate keys,
NaN literals, truncated or corrupted bytes, wrong envelopes and operations.
The same seed gives the same cases.
"""

from __future__ import annotations

import copy
import json
import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from tests.webhook.conftest import OBJECTS, admission_review

__all__ = ["FuzzCase", "fuzz_cases"]

_ODD_STRINGS = (
    "",
    "\x00",
    "\u202e\u0644\u0627",
    "\u200b",
    "\U0001f600",
    "a" * 300,
    "${jndi:ldap://x}",
    "'; DROP TABLE x; --",
    "\\",
    '"',
    "\n\r\t",
    "\ufeff",
)
_ODD_VALUES: tuple[Any, ...] = (None, True, 0, -1, 1.5, "", [], {}, [1, "a"], {"a": {"b": []}}, "x" * 50)


@dataclass(frozen=True)
class FuzzCase:
    """One fuzzed request body and the names of the mutations that made it."""

    body: bytes
    mutations: tuple[str, ...]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (keys and indexes)."""
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value


def _pick(rng: random.Random, doc: Any, under: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    paths = [p for p in _paths(doc) if p[: len(under)] == under and len(p) > len(under)]
    return rng.choice(paths) if paths else under


_DEEP = "\u2063deep:"  # a marker json.dumps keeps as is; replaced by the nesting in the text


# The marker as json.dumps writes it; a marker another mutation edited stays a plain string.
_MARKER = re.compile('"' + _DEEP + r'(\d+):(object|array|mixed)"')


def _nest_text(levels: int, style: str) -> str:
    if style == "object":
        return '{"a": ' * levels + "1" + "}" * levels
    if style == "array":
        return "[" * levels + "]" * levels
    return '{"a": [' * (levels // 2) + '"x"' + "]}" * (levels // 2)


# ---- mutations on the decoded document (they return nothing: they edit ``doc``)


def _request_fields(rng: random.Random, doc: dict[str, Any]) -> None:
    request = doc["request"]
    request["apiVersion"] = rng.choice(["v1", "apps/v1", "admission.k8s.io/v1"])
    request["kind"] = rng.choice(["Pod", "Deployment", "AdmissionReview", request.get("kind")])


def _deep(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc, ("request", "object")) if isinstance(doc["request"].get("object"), dict) else ("request",)
    levels = rng.choice([50, 250, 257, 300, 495, 600, 964, 1200, 3000])
    target = path if len(path) > 2 else (*path, "deep")
    _set(doc, target, f"{_DEEP}{levels}:{rng.choice(['object', 'array', 'mixed'])}")


def _huge_number(rng: random.Random, doc: dict[str, Any]) -> None:
    digits = rng.choice([19, 20, 40, 309, 400])
    number: Any = int("9" * digits) * rng.choice([1, -1])
    if rng.random() < 0.3:
        number = rng.choice([1e308, -1e308, 5e-324, 2**63, -(2**63) - 1])
    _set(doc, _pick(rng, doc, ("request",)), number)


def _type_confusion(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc, ("request",))
    _set(doc, path, copy.deepcopy(rng.choice(_ODD_VALUES)))


def _drop(rng: random.Random, doc: dict[str, Any]) -> None:
    path = _pick(rng, doc)
    if len(path) >= 1:
        node: Any = doc
        for key in path[:-1]:
            node = node[key]
        if isinstance(node, dict):
            del node[path[-1]]
        elif isinstance(node, list) and node:
            node.pop(path[-1])


def _odd_unicode(rng: random.Random, doc: dict[str, Any]) -> None:
    strings = [p for p in _paths(doc) if p and _get(doc, p).__class__ is str]
    if strings:
        path = rng.choice(strings)
        _set(doc, path, str(_get(doc, path)) + rng.choice(_ODD_STRINGS))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for key in path:
        doc = doc[key]
    return doc


def _huge(rng: random.Random, doc: dict[str, Any]) -> None:
    if rng.random() < 0.5:
        value: Any = "x" * rng.choice([10_000, 100_000, 1_000_000])
        path = _pick(rng, doc, ("request",))
    else:
        # Big maps go outside metadata: on the regopy backend a set comprehension over
        # N labels costs about N**3 (100 labels 1.3 s, 200 8.5 s, 400 83 s, measured), so
        # one label bomb holds a worker for minutes and every later case would only meet
        # the failure mode. docs/reliability.md records it; the evaluator issue fixes it.
        value = {f"k{i}": i for i in range(rng.choice([1000, 10_000]))}
        paths = [p for p in _paths(doc) if p[:2] == ("request", "object") and "metadata" not in p]
        path = rng.choice(paths) if len(paths) > 2 else ("request", "extra")
    if len(path) > 1:
        _set(doc, path, value)


def _envelope(rng: random.Random, doc: dict[str, Any]) -> None:
    choice = rng.randrange(6)
    if choice == 0:
        doc["apiVersion"] = rng.choice(["admission.k8s.io/v2", "v1", "", None])
    elif choice == 1:
        doc["kind"] = rng.choice(["Pod", "", None, {"kind": "AdmissionReview"}])
    elif choice == 2:
        doc["request"] = rng.choice([[doc["request"]], "request", None, 7])
    elif choice == 3:
        doc["request"]["uid"] = rng.choice(["", None, 7, ["u"], {"u": 1}])
    elif choice == 4:
        doc["request"]["operation"] = rng.choice(["DELETE", "CONNECT", "PATCH", "", 5, None])
    else:
        doc["request"]["object"] = rng.choice([None, "obj", [], 5])


_DOC_MUTATIONS: dict[str, Callable[[random.Random, dict[str, Any]], None]] = {
    "request_fields": _request_fields,
    "deep": _deep,
    "huge_number": _huge_number,
    "type_confusion": _type_confusion,
    "drop": _drop,
    "odd_unicode": _odd_unicode,
    "huge": _huge,
    "envelope": _envelope,
}

# ---- mutations on the encoded text


def _surrogate(rng: random.Random, text: str) -> str:
    escape = rng.choice(["\\ud800", "\\udfff", "\\udbff", "\\ud83d", "\\ude00x"])
    quote = [i for i, c in enumerate(text) if c == '"']
    if not quote:
        return text
    at = rng.choice(quote) + 1
    return text[:at] + escape + text[at:]


def _duplicate_key(rng: random.Random, text: str) -> str:
    return (
        text.replace('"uid": ', '"uid": "first", "uid": ', 1)
        if rng.random() < 0.5
        else text.replace('"object": ', '"object": {"kind": "ConfigMap", "apiVersion": "v1"}, "object": ', 1)
    )


def _constant(rng: random.Random, text: str) -> str:
    return text.replace('"cc1"', rng.choice(["NaN", "Infinity", "-Infinity", "1e400", "-0", "1E+2"]), 1)


_TEXT_MUTATIONS: dict[str, Callable[[random.Random, str], str]] = {
    "surrogate": _surrogate,
    "duplicate_key": _duplicate_key,
    "constant": _constant,
}


def _corrupt(rng: random.Random, body: bytes) -> bytes:
    choice = rng.randrange(4)
    if choice == 0:
        return body[: rng.randrange(len(body))]
    if choice == 1:
        data = bytearray(body)
        for _ in range(rng.randint(1, 5)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 2:
        return body.replace(b"api", b"\xff\xfeapi", 1)
    return rng.choice([b"", b"null", b"[]", b"{}", b'"x"', b"{" * 100_000, b"[" * 50_000 + b"]" * 50_000])


def fuzz_cases(seed: int, count: int) -> Iterator[FuzzCase]:
    """``count`` fuzzed AdmissionReview bodies, reproducible from ``seed``."""
    rng = random.Random(seed)
    names = sorted(OBJECTS)
    for _ in range(count):
        subject = copy.deepcopy(OBJECTS[rng.choice(names)])
        operation = rng.choice(["CREATE", "CREATE", "UPDATE", "DELETE"])
        doc = admission_review(
            subject if operation != "DELETE" else None,
            operation=operation,
            old=subject if operation != "CREATE" else None,
            api_version=rng.choice(["admission.k8s.io/v1", "admission.k8s.io/v1beta1"]),
        )
        applied: list[str] = []
        for _ in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.65:
                name = rng.choice(sorted(_DOC_MUTATIONS))
                try:
                    _DOC_MUTATIONS[name](rng, doc)
                except (KeyError, TypeError, IndexError, AttributeError):
                    continue  # an earlier mutation removed what this one edits
                applied.append(name)
        text = json.dumps(doc, ensure_ascii=False)
        text = _MARKER.sub(lambda m: _nest_text(int(m.group(1)), m.group(2)), text)
        if rng.random() < 0.3:
            name = rng.choice(sorted(_TEXT_MUTATIONS))
            text = _TEXT_MUTATIONS[name](rng, text)
            applied.append(name)
        body = text.encode("utf-8", "surrogatepass")
        if rng.random() < 0.08:
            body = _corrupt(rng, body)
            applied.append("corrupt")
        yield FuzzCase(body, tuple(applied))
