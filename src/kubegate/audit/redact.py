"""Redaction of decision records before they leave memory.

Two kinds of rules, applied in this order, each counted by name:

* **Mask rules** with OPA's ``system.log.mask`` semantics
  (https://www.openpolicyagent.org/docs/latest/management-decision-logs/#masking-sensitive-data):
  a JSON pointer string (``"/input/review/userInfo/extra"``) erases that
  value; ``{"op": "remove", "path": ...}`` does the same; ``{"op": "upsert",
  "path": ..., "value": ...}`` replaces it (or adds it, creating missing parent objects, as OPA does).
  Pointers are rooted at the record (``/input``, ``/result``). As an extension,
  a ``*`` segment matches every key or index at its level.
  Erased and masked pointers are listed in the record (``erased``, ``masked``), as OPA does.
* **Detectors**, on every string of ``input`` and ``result``:
  ``secret_data`` (values of a Secret's ``data``/``stringData``),
  ``sensitive_env`` (env values whose names look like secrets),
  ``email``, ``card_number`` (13-19 digits passing the Luhn check),
  ``bearer_token`` (``Bearer …`` and JWTs) and ``private_key`` (PEM blocks).
  Each can be switched off; the replacement text is configurable: ``{rule}``
  is the detector's name, ``{hash}`` a keyed pseudonym of the value
  (HMAC-SHA256 with ``hash_key``, 16 hex digits), so one person's values map
  to one token that only the key holder can link back.

Detectors scan ``input``, ``result`` and the requester's identity
(``kubegate.userInfo``): a username that is an email address is personal data.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from kubegate.errors import InputError, Location
from kubegate.evaluator.builtins._re2_loader import re2

__all__ = ["DETECTORS", "MaskRule", "Redactor", "load_redaction_config", "redactor_for"]

DETECTORS = ("secret_data", "sensitive_env", "email", "card_number", "bearer_token", "private_key")
_SENSITIVE_ENV = r"(?i)(pass(word|wd)?|secret|token|api[_-]?key|private[_-]?key|credential|auth|session|cookie|signing)"
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
# The same pattern in RE2, for whole JSON texts: linear time, where Python's backtracking
# takes quadratic time on a long run of address characters with an "@" somewhere else.
# Matched on the UTF-8 bytes ("surrogatepass": a lone surrogate has no UTF-8 form): the
# pattern's classes are ASCII, so bytes and text give the same matches.
_EMAIL_LINEAR = re2.compile(_EMAIL.pattern.encode())
_CARD = re.compile(r"(?<![0-9])(?:[0-9][ -]?){12,18}[0-9](?![0-9])")
_BEARER = re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
# A run of digits, spaces and dashes long enough to hold a card number (a superset of _CARD).
_DIGIT_RUN = re.compile(r"[0-9][0-9 -]{11,}[0-9]")
_PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(-----END [A-Z ]*PRIVATE KEY-----|$)", re.S)
_CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Every string value of a "name" key in a JSON text (escapes kept: none hides a letter).
_NAMES = re.compile(r'"name":"((?:[^"\\]|\\.)*)"')


def _suspect(text: str) -> bool:
    """Whether any text detector could match in ``text``: substring tests (C speed) for
    what each detector needs, then one cheap regex for digit runs. Most strings (names,
    images, labels) are cleared here and never meet the detectors' regexes."""
    return (
        "@" in text
        or "eyJ" in text
        or "PRIVATE KEY-----" in text
        or "bearer" in text.lower()
        or _DIGIT_RUN.search(text) is not None
    )


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number (ISO/IEC 7812-1)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


@dataclass(frozen=True)
class MaskRule:
    """One OPA mask rule: ``op`` is ``remove`` or ``upsert``; ``path`` a JSON pointer."""

    path: tuple[str, ...]
    op: str = "remove"
    value: Any = None
    text: str = ""


def _pointer(text: str) -> tuple[str, ...]:
    if not text.startswith("/"):
        raise ValueError(f"{text!r} is not a JSON pointer (it must start with /)")
    return tuple(p.replace("~1", "/").replace("~0", "~") for p in text[1:].split("/"))


def _maskable(text: str) -> tuple[str, ...]:
    """A mask rule's pointer; like OPA, only into ``/input`` and ``/result`` (and kubegate's
    ``/kubegate``, which holds the user info): ids and timestamps stay."""
    path = _pointer(text)
    if not path or path[0] not in ("input", "result", "kubegate"):
        raise ValueError(f"{text!r} does not point into /input, /result or /kubegate")
    return path


def parse_mask_rules(rules: Iterable[Any], source: str = "<mask>") -> list[MaskRule]:
    """Reads OPA mask rules (strings or ``{op, path, value}``).

    Raises:
        InputError: ``invalid_mask_rule``.
    """
    out = []
    for i, rule in enumerate(rules):
        try:
            if isinstance(rule, str):
                out.append(MaskRule(_maskable(rule), "remove", None, rule))
            elif isinstance(rule, Mapping) and rule.get("op", "remove") in ("remove", "upsert") and "path" in rule:
                op = str(rule.get("op", "remove"))
                if op == "upsert" and "value" not in rule:
                    raise ValueError("an upsert needs a value")
                out.append(MaskRule(_maskable(str(rule["path"])), op, rule.get("value"), str(rule["path"])))
            else:
                raise ValueError("expected a JSON pointer or {op: remove|upsert, path, value}")
        except ValueError as exc:
            raise InputError(f"mask rule {i}: {exc}", Location(source), code="invalid_mask_rule") from None
    return out


@dataclass
class Redactor:
    """Applies mask rules and detectors to a record (in place) and counts what it did.

    Args:
        mask: OPA mask rules.
        detectors: names of the detectors to run (all by default).
        replacement: text put in place of a detected value; ``{rule}`` is the
            detector's name, ``{hash}`` a keyed pseudonym of the value.
        sensitive_env: regular expression for env var names whose values are secret.
        hash_key: the HMAC key for ``{hash}`` (required when it is used).

    Raises:
        InputError: ``invalid_redaction_config``.
    """

    mask: list[MaskRule] = field(default_factory=list)
    detectors: tuple[str, ...] = DETECTORS
    replacement: str = "<redacted:{rule}>"
    sensitive_env: str = _SENSITIVE_ENV
    hash_key: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        unknown = set(self.detectors) - set(DETECTORS)
        if unknown:
            raise InputError(
                f"unknown detector(s) {', '.join(sorted(unknown))}; known: {', '.join(DETECTORS)}",
                code="invalid_redaction_config",
            )
        if "{hash}" in self.replacement and not self.hash_key:
            raise InputError(
                "a replacement with {hash} needs a hashKey (else values could be guessed from their hash)",
                code="invalid_redaction_config",
            )
        self._env = re.compile(self.sensitive_env)

    def redact(self, record: dict[str, Any]) -> dict[str, int]:
        """Redacts ``record`` in place; returns ``{rule: values redacted}``."""
        counts: Counter[str] = Counter()
        erased: list[str] = []
        masked: list[str] = []
        if self.mask:  # masks edit in place: never the caller's objects (the review, the cache)
            for key in ("input", "result", "kubegate"):  # kubegate.userInfo shares the review's lists
                if key in record:
                    record[key] = copy.deepcopy(record[key])
        for rule in self.mask:
            hits = _apply_mask(record, list(rule.path), rule)
            if hits:
                counts[f"mask:{rule.text}"] += hits
                (erased if rule.op == "remove" else masked).append(rule.text)
        for key in ("input", "result"):
            if key in record and not self._clean(record[key]):
                record[key] = self._scan(record[key], counts)
        kubegate = record.get("kubegate")
        if isinstance(kubegate, dict) and "userInfo" in kubegate and not self._clean(kubegate["userInfo"]):
            kubegate["userInfo"] = self._scan(kubegate["userInfo"], counts)
        if erased:
            record["erased"] = erased
        if masked:
            record["masked"] = masked
        return {rule: n for rule, n in counts.items() if n}  # an empty Secret's data redacted nothing

    def _clean(self, value: Any) -> bool:
        """Whether no detector can find anything in ``value``, told from its JSON text
        (:meth:`text_is_clean`) instead of walking it. A value that is not plain JSON is walked."""
        if self.mask or not isinstance(value, (dict, list, str)):
            return not self.mask and not isinstance(value, Mapping)  # numbers, booleans, null
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), check_circular=False)
        except (TypeError, ValueError, RecursionError):
            return False
        return self.text_is_clean(text)

    def text_is_clean(self, text: str) -> bool:
        """Whether the detectors would leave the value whose JSON text is ``text`` as it is
        (no mask rules: those are never decided here), at C speed instead of a walk.
        ``False`` means "walk it", not that something will be found.

        Why a text test is enough: a match of the email or card patterns is made of
        characters JSON never escapes (letters, digits, ``.``, ``_``, ``%``, ``+``, ``-``,
        space), so it appears as it is in the text, keys included. The bearer, JWT and
        private-key patterns rely on ``\\s`` or word boundaries, which escapes can hide
        (a newline is ``\\n`` in JSON): their mere keywords send the value to the walk.
        No object may say ``"Secret"``; an ``"env"`` key is fine only if every ``"name"``
        in the text is a string that the sensitive-env pattern (decoded, as the walk sees
        it) does not match: every env entry's name is one of them.
        """
        if self.mask:
            return False
        detectors = self.detectors
        if "PRIVATE KEY-----" in text and "private_key" in detectors:
            return False
        if "bearer_token" in detectors and ("eyJ" in text or "bearer" in text.lower()):
            return False
        utf8 = text.encode("utf-8", "surrogatepass") if "@" in text and "email" in detectors else b""
        if utf8 and _EMAIL_LINEAR.search(utf8) is not None:
            return False
        if "card_number" in detectors and _DIGIT_RUN.search(text) is not None:
            return False
        if "secret_data" in detectors and '"Secret"' in text:
            return False
        if "sensitive_env" not in detectors or '"env":' not in text:
            return True
        names = _NAMES.findall(text)
        if text.count('"name":') != len(names):  # a name that is not a string: walk it
            return False
        search = self._env.search  # per name: a configured pattern may be anchored
        return not any(search(json.loads(f'"{name}"') if "\\" in name else name) for name in names)

    def scan_value(self, value: Any) -> tuple[Any, dict[str, int]]:
        """``value`` as the detectors leave it (no mask rules), and ``{rule: values
        redacted}``: what :meth:`redact` does to one value of ``input``/``result``."""
        counts: Counter[str] = Counter()
        return self._scan(value, counts), {rule: n for rule, n in counts.items() if n}

    def _replace(self, rule: str, value: Any) -> str:
        text = self.replacement.replace("{rule}", rule)
        if "{hash}" in text:
            data = str(value).encode("utf-8", "surrogatepass")  # a lone surrogate hashes too
            digest = hmac.new(self.hash_key.encode(), data, hashlib.sha256).hexdigest()[:16]
            text = text.replace("{hash}", digest)
        return text

    def _scan(self, value: Any, counts: Counter[str]) -> Any:
        # Most-common types first; ``dict`` before the (slower) ``Mapping`` ABC check.
        if isinstance(value, str):
            return self._text(value, counts)
        if isinstance(value, dict) or isinstance(value, Mapping):  # noqa: SIM101 - dict first is faster
            out: dict[str, Any] = {}
            is_secret = "secret_data" in self.detectors and value.get("kind") == "Secret"
            for k, v in value.items():
                if isinstance(k, str) and _suspect(k):  # a key can hold a secret too (userInfo.extra, labels)
                    k = self._key(k, out, counts)
                if is_secret and k in ("data", "stringData") and isinstance(v, Mapping):
                    counts["secret_data"] += len(v)
                    data: dict[Any, Any] = {}
                    for name, secret in v.items():
                        if isinstance(name, str) and _suspect(name):
                            name = self._key(name, data, counts)
                        data[name] = self._replace("secret_data", secret)
                    out[k] = data
                elif k in _CONTAINER_LISTS and isinstance(v, list) and "sensitive_env" in self.detectors:
                    out[k] = [self._container(c, counts) for c in v]
                else:
                    out[k] = self._scan(v, counts)
            return out
        if isinstance(value, list):
            return [self._scan(v, counts) for v in value]
        return value

    def _key(self, key: str, out: Mapping[str, Any], counts: Counter[str]) -> str:
        """``key`` redacted; two keys redacted alike stay two keys (``#2``, ``#3``...)."""
        redacted = self._text(key, counts)
        if redacted != key and redacted in out:
            n = 2
            while f"{redacted}#{n}" in out:
                n += 1
            redacted = f"{redacted}#{n}"
        return redacted

    def _container(self, container: Any, counts: Counter[str]) -> Any:
        if not isinstance(container, Mapping):
            return self._scan(container, counts)
        out: dict[str, Any] = {}
        for key, value in container.items():
            if isinstance(key, str) and _suspect(key):
                key = self._key(key, out, counts)
            if key == "env" and isinstance(value, list):
                out[key] = [self._env_entry(entry, counts) for entry in value]
            else:
                out[key] = self._scan(value, counts)
        return out

    def _env_entry(self, entry: Any, counts: Counter[str]) -> Any:
        if isinstance(entry, Mapping) and "value" in entry and self._env.search(str(entry.get("name", ""))):
            counts["sensitive_env"] += 1
            rest = self._scan({k: v for k, v in entry.items() if k != "value"}, counts)  # valueFrom, odd keys
            return {**rest, "value": self._replace("sensitive_env", entry["value"])}
        return self._scan(entry, counts)

    def _cards(self, run: str, counts: Counter[str]) -> str:
        """Card numbers in a run of digits and separators: the run itself, or a part of it
        (``4111 1111 1111 1111 12/25`` joins the expiry month to the run)."""
        groups = list(re.finditer(r"[0-9]+", run))
        span = _card_span(groups)
        if span is None:
            return run
        first, last = groups[span[0]], groups[span[1] - 1]
        counts["card_number"] += 1
        digits = re.sub(r"[ -]", "", run[first.start() : last.end()])
        rest = run[last.end() :]
        before = run[: first.start()]
        return (
            (self._cards(before, counts) if before else "")
            + self._replace("card_number", digits)
            + (self._cards(rest, counts) if rest else "")
        )

    def _sub(self, pattern: re.Pattern[str], rule: str, text: str, counts: Counter[str], prefix: str = "") -> str:
        def replace(match: re.Match[str]) -> str:
            counts[rule] += 1
            return prefix + self._replace(rule, match.group(0))

        return pattern.sub(replace, text)

    def _text(self, text: str, counts: Counter[str]) -> str:
        if not _suspect(text):
            return text
        if "private_key" in self.detectors and "PRIVATE KEY-----" in text:
            text = self._sub(_PRIVATE_KEY, "private_key", text, counts)
        if "bearer_token" in self.detectors:
            text = self._sub(_BEARER, "bearer_token", text, counts, prefix="Bearer ")
            text = self._sub(_JWT, "bearer_token", text, counts)
        if "email" in self.detectors and "@" in text:
            text = self._sub(_EMAIL, "email", text, counts)
        if "card_number" in self.detectors:

            def card(match: re.Match[str]) -> str:
                return self._cards(match.group(0), counts)

            text = _CARD.sub(card, text)
        return text


def _card_span(groups: list[re.Match[str]]) -> tuple[int, int] | None:
    """The longest run of consecutive digit groups that is a card number (13-19 digits, Luhn)."""
    for width in range(len(groups), 0, -1):
        for i in range(len(groups) - width + 1):
            digits = "".join(g.group(0) for g in groups[i : i + width])
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                return i, i + width
    return None


def _apply_mask(node: Any, path: list[str], rule: MaskRule) -> int:
    """Applies ``rule`` below ``node`` along ``path``; returns how many values it touched."""
    if not path:
        return 0
    head, rest = path[0], path[1:]
    keys: list[Any]
    if isinstance(node, dict):
        keys = list(node) if head == "*" else [head]
    elif isinstance(node, list):
        if head == "*":
            keys = list(range(len(node)))
        elif head.isdigit() and int(head) < len(node):
            keys = [int(head)]
        else:
            return 0
    else:
        return 0
    hits = 0
    if rule.op == "remove" and not rest and isinstance(node, list):
        keys = sorted(keys, reverse=True)  # OPA splices array elements out; last first keeps indices valid
    for key in keys:
        if rest:
            if isinstance(node, dict) and key not in node and rule.op == "upsert" and key != "*":
                node[key] = {}  # OPA's upsert creates missing parents (mkdirp)
            child = node[key] if (isinstance(node, dict) and key in node) or isinstance(node, list) else None
            hits += _apply_mask(child, rest, rule)
            continue
        present = key in node if isinstance(node, dict) else True
        if rule.op == "remove":
            if present:
                del node[key]
                hits += 1
        elif isinstance(node, dict) or present:
            node[key] = copy.deepcopy(rule.value)  # later rules must not edit the rule (or other records)
            hits += 1
    return hits


def redactor_for(path: str | None) -> Redactor:
    """The redactor a ``--redaction-config`` option asks for (the default detectors without one).

    Raises:
        InputError: see :func:`load_redaction_config`.
    """
    return load_redaction_config(path) if path else Redactor()


def load_redaction_config(path: str) -> Redactor:
    """Reads a redaction config file::

        mask:                       # OPA mask rules
        - /input/review/userInfo/extra
        - {op: upsert, path: /input/review/object/spec/nodeName, value: "**"}
        detectors: [secret_data, sensitive_env, email, card_number, bearer_token, private_key]
        replacement: "<redacted:{rule}>"   # or "<{rule}:{hash}>" with hashKey
        hashKey: "..."                       # HMAC key for {hash} pseudonyms
        sensitiveEnvPattern: "(?i)(password|secret|token)"

    Raises:
        InputError: unreadable file, unknown keys or detectors, bad mask rules or pattern.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
        from kubegate.yamlio import read_yaml  # bounded reading (aliases, depth, size), located errors

        loaded = read_yaml(text, path)
        doc, node = (loaded.value or {}, loaded.node) if loaded is not None else ({}, None)
    except OSError as exc:
        raise InputError(
            f"cannot read the redaction config: {exc.strerror}", Location(path), code="invalid_redaction_config"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        problem = getattr(exc, "problem", None) or str(exc)
        raise InputError(f"malformed YAML: {problem}", where, code="yaml_parse_error") from None
    keys, items = _positions(path, node)

    def bad(message: str, key: str | None = None) -> InputError:
        return InputError(message, keys.get(key or "", Location(path)), code="invalid_redaction_config")

    known = {"mask", "detectors", "replacement", "hashKey", "sensitiveEnvPattern"}
    if not isinstance(doc, dict):
        raise bad("a redaction config is a mapping of mask, detectors, replacement, hashKey, sensitiveEnvPattern")
    for key in doc:
        if key not in known:
            raise bad(f"unknown key {key!r}: a redaction config has only {', '.join(sorted(known))}", str(key))
    try:
        pattern = str(doc.get("sensitiveEnvPattern", _SENSITIVE_ENV))
        re.compile(pattern)
    except re.error as exc:
        raise bad(f"sensitiveEnvPattern: {exc}", "sensitiveEnvPattern") from None
    detectors = doc.get("detectors", list(DETECTORS))
    if not isinstance(detectors, list) or not all(isinstance(d, str) for d in detectors):
        raise bad("detectors must be a list of names", "detectors")
    mask = doc.get("mask") or []
    if not isinstance(mask, list):
        raise bad("mask must be a list of rules", "mask")
    rules: list[MaskRule] = []
    for i, rule in enumerate(mask):
        try:
            rules += parse_mask_rules([rule], path)
        except InputError as exc:
            message = exc.message.replace("mask rule 0:", f"mask rule {i}:", 1)
            raise InputError(message, items[i] if i < len(items) else keys.get("mask"), code=exc.code) from None
    try:
        return Redactor(
            mask=rules,
            detectors=tuple(detectors),
            replacement=str(doc.get("replacement", "<redacted:{rule}>")),
            sensitive_env=pattern,
            hash_key=str(doc.get("hashKey", "")),
        )
    except InputError as exc:
        key = "detectors" if "detector" in exc.message else "replacement" if "replacement" in exc.message else "hashKey"
        raise InputError(exc.message, keys.get(key, Location(path)), code=exc.code) from None


def _positions(path: str, node: yaml.Node | None) -> tuple[dict[str, Location], list[Location]]:
    """Where each top-level key, and each mask rule, is in the file (1-based line and column)."""
    keys: dict[str, Location] = {}
    items: list[Location] = []
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            keys[str(key.value)] = Location(path, key.start_mark.line + 1, key.start_mark.column + 1)
            if key.value == "mask" and isinstance(value, yaml.SequenceNode):
                items = [Location(path, v.start_mark.line + 1, v.start_mark.column + 1) for v in value.value]
    return keys, items
