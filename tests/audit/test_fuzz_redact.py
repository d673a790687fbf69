"""Fuzzing the redactor and the record serialiser with hypothesis: any JSON-like input
(odd strings, lone surrogates, secrets at any depth, huge numbers, containers of any
shape) is redacted and serialised, or refused with a ``RecordError``; never another
exception, never the caller's data edited, never a secret left in the output."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubegate.audit.logger import DecisionLogger, LogSettings, RecordError, _serialise
from kubegate.audit.record import DecisionFacts, build_record
from kubegate.audit.redact import MaskRule, Redactor

EXAMPLES = int(os.environ.get("KUBEGATE_FUZZ_EXAMPLES", "300"))
SECRET = "4111 1111 1111 1111"  # a Luhn-valid card number the detectors must catch anywhere

_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["\ud800", "x\udfffy", SECRET, "Bearer abc.def.ghi", "alice@example.com", "-----BEGIN"]),
)
_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**400), max_value=10**400), st.floats(allow_nan=False), _text
)
_json = st.recursive(
    _scalar,
    lambda children: st.one_of(
        st.lists(children, max_size=5),
        st.dictionaries(
            st.one_of(_text, st.sampled_from(["env", "containers", "data", "kind", "value", "name"])),
            children,
            max_size=5,
        ),
    ),
    max_leaves=40,
)
_pod_like = st.fixed_dictionaries(
    {"kind": st.sampled_from(["Pod", "Secret", "ConfigMap"]), "spec": _json, "data": _json},
    optional={"metadata": _json},
)


def _review(obj: Any, user: Any) -> dict[str, Any]:
    return {
        "uid": "u",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "userInfo": user,
        "object": obj,
    }


_REDACTORS = (
    Redactor(),
    Redactor(mask=[MaskRule("remove", ("input", "review", "object", "data"), "/input/review/object/data")]),
    Redactor(replacement="<{rule}:{hash}>", hash_key="k"),
)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(obj=st.one_of(_pod_like, _json), user=_json, which=st.integers(0, len(_REDACTORS) - 1))
def test_any_record_is_redacted_and_serialised_or_refused(obj: Any, user: Any, which: int) -> None:
    review = _review(obj, user)
    original = copy.deepcopy(review)
    facts = DecisionFacts(allowed=False, violations=({"policy": "p", "enforcement": "deny", "message": SECRET},))
    record = build_record(review, facts, mode="strict", path="kubegate/review", labels={})
    try:
        _REDACTORS[which].redact(record)
        payload = _serialise(record)
    except RecordError as exc:
        assert exc.code == "decision_record_invalid"
        return
    assert review == original
    text = payload.decode("utf-8")  # always valid UTF-8 (surrogates are escaped)
    written = json.loads(text)
    # kubegate.name/namespace stay as the request gave them, by design (docs/audit.md: the
    # identifiers `audit query` filters on); everything else is free of the secret.
    for key in ("name", "namespace"):
        written["kubegate"].pop(key, None)
    rest = json.dumps(written, ensure_ascii=False)
    assert SECRET not in rest and SECRET.replace(" ", "") not in rest


def test_a_record_nested_beyond_the_recursion_limit_is_refused_not_crashed(tmp_path: Path) -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = {"a": deep}
    logger = DecisionLogger(LogSettings(directory=str(tmp_path / "wal"), mode="strict"), [], Redactor())
    try:
        with pytest.raises(RecordError) as info:
            logger.record(_review(deep, {}), DecisionFacts(allowed=True), path="kubegate/review")
        assert info.value.code == "decision_record_invalid"
        logger.record(_review({"kind": "Pod"}, {}), DecisionFacts(allowed=True), path="kubegate/review")
    finally:
        logger.close()
    assert len(list(logger.wal.records())) == 1  # the refused record left nothing behind


def test_secrets_in_mapping_keys_are_redacted_and_keys_stay_distinct() -> None:
    """Fuzz finding: a card number or an e-mail address used as a key survived redaction."""
    review = _review({"kind": "Pod"}, {"extra": {SECRET: ["x"], "4012888888881881": ["y"], "bob@example.com": []}})
    record = build_record(review, DecisionFacts(allowed=True), mode="strict", path="p", labels={})
    counts = Redactor().redact(record)
    extra = record["input"]["review"]["userInfo"]["extra"]
    assert sorted(extra) == ["<redacted:card_number>", "<redacted:card_number>#2", "<redacted:email>"]
    assert sorted(record["kubegate"]["userInfo"]["extra"]) == sorted(extra)  # the record's second copy
    assert counts["card_number"] == 4 and counts["email"] == 2


# ---- the text test (Redactor.text_is_clean) never clears what the walk would redact

_tricky = st.sampled_from(
    [
        "Bearer\nabcdefghij",
        "x\teyJabcdef.eyJabcdef.abcdefgh",
        "bob@bank.example",
        "a\nbob@bank.example\n",
        "4111-1111-1111-1111",
        "-----BEGIN RSA PRIVATE KEY-----\nMII",
        "DB_PASSWORD",
        'AP"I_TOKEN',
        "LICENSE",
        "Secret",
        "\\",
        "é@ü.de",
    ]
)
_env_entry = st.fixed_dictionaries(
    {"name": st.one_of(_text, _tricky, st.integers(), st.none()), "value": st.one_of(_text, _tricky)}
)
_containers = st.lists(
    st.fixed_dictionaries({"name": st.one_of(_text, _tricky), "env": st.lists(_env_entry, max_size=3)}), max_size=2
)
_value = st.recursive(
    st.one_of(_scalar, _tricky),
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(_text, _tricky, st.sampled_from(["kind", "name", "env"])), children, max_size=4),
        st.fixed_dictionaries(
            {"kind": st.sampled_from(["Pod", "Secret"]), "spec": st.fixed_dictionaries({"containers": _containers})}
        ),
    ),
    max_leaves=30,
)


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=_value, anchored=st.booleans())
def test_a_value_the_text_test_clears_is_left_alone_by_the_walk(value: Any, anchored: bool) -> None:
    redactor = Redactor(sensitive_env=r"^LICENSE$|^AP\"I_TOKEN$") if anchored else Redactor()
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return
    if redactor.text_is_clean(text):
        scanned, counts = redactor.scan_value(value)
        assert counts == {} and scanned == value
