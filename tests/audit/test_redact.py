"""Redaction of decision records: OPA mask rules, the built-in detectors, configs.

The conformance cases live in ``redaction-cases.yaml`` (record, config,
expected record, expected counts); the tests below it cover what a table
cannot: copies, pseudonym properties and configuration errors.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.audit.record import DecisionFacts, build_record
from kubegate.audit.redact import DETECTORS, MaskRule, Redactor, load_redaction_config, luhn_valid, parse_mask_rules
from kubegate.errors import InputError, Location

CASES_FILE = Path(__file__).parent / "redaction-cases.yaml"
CASES: list[dict[str, Any]] = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))


def _config_file(tmp_path: Path, config: Any, name: str = "redaction.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return str(path)


def _config_text(tmp_path: Path, text: str, name: str = "redaction.yaml") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def _load_error(path: str) -> InputError:
    with pytest.raises(InputError) as info:
        load_redaction_config(path)
    return info.value


def _review(**extra: Any) -> dict[str, Any]:
    review: dict[str, Any] = {
        "uid": "7d4c1a52-0f0e-4c9e-9d36-6b0f1f8f4a11",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "namespace": "shop",
        "name": "web",
        "userInfo": {"username": "alice@example.com", "groups": ["dev", "admins"], "extra": {"team": ["web"]}},
        "object": {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "web", "namespace": "shop", "annotations": {"contact": "bob@example.com"}},
            "spec": {"containers": [{"name": "app", "env": [{"name": "DB_PASSWORD", "value": "hunter2"}]}]},
        },
    }
    review.update(extra)
    return review


# ---------------------------------------------------------------- the conformance table


def test_the_conformance_table_covers_every_detector_and_mask_op() -> None:
    names = [case["name"] for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    counted = {rule for case in CASES for rule in case["counts"]}
    assert set(DETECTORS) <= counted
    ops = {
        rule.get("op", "remove") if isinstance(rule, dict) else "remove"
        for case in CASES
        for rule in case["config"].get("mask", [])
    }
    assert ops == {"remove", "upsert"}


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_redaction_case(case: dict[str, Any], tmp_path: Path) -> None:
    redactor = load_redaction_config(_config_file(tmp_path, case["config"]))
    record = copy.deepcopy(case["record"])
    # What the record shares with its caller: the review, the result, the requester's identity.
    parts = {key: record[key] for key in ("input", "result") if key in record}
    if "userInfo" in record.get("kubegate", {}):
        parts["userInfo"] = record["kubegate"]["userInfo"]
    before = copy.deepcopy(parts)

    counts = redactor.redact(record)

    assert record == case["expected"]
    assert counts == case["counts"]
    # The objects the record held before (the review, the cached result) are left as they were.
    assert parts == before
    # A redacted record is still plain JSON.
    assert json.loads(json.dumps(record)) == record


# ---------------------------------------------------------------- detectors, outside the table


@pytest.mark.parametrize(
    ("digits", "valid"),
    [
        ("4111111111111111", True),
        ("5500000000000004", True),
        ("378282246310005", True),
        ("79927398713", True),
        ("4111111111111112", False),
        ("1234567890123", False),
    ],
)
def test_luhn_checksum(digits: str, valid: bool) -> None:
    assert luhn_valid(digits) is valid


def test_a_record_from_build_record_is_redacted_everywhere_without_touching_the_review() -> None:
    review = _review()
    original = copy.deepcopy(review)
    facts = DecisionFacts(
        allowed=False,
        violations=({"policy": "owner", "enforcement": "deny", "message": "alice@example.com is not an owner"},),
    )
    record = build_record(review, facts, mode="strict", path="kubegate/review", labels={"id": "test"})

    counts = Redactor().redact(record)

    assert counts == {"email": 4, "sensitive_env": 1}
    assert record["input"]["review"]["userInfo"]["username"] == "<redacted:email>"
    assert record["input"]["review"]["object"]["metadata"]["annotations"]["contact"] == "<redacted:email>"
    container = record["input"]["review"]["object"]["spec"]["containers"][0]
    assert container["env"] == [{"name": "DB_PASSWORD", "value": "<redacted:sensitive_env>"}]
    assert record["result"]["violations"][0]["message"] == "<redacted:email> is not an owner"
    assert record["kubegate"]["userInfo"]["username"] == "<redacted:email>"
    assert review == original


def test_masks_never_edit_the_callers_review(tmp_path: Path) -> None:
    # In strict mode kubegate.userInfo is a shallow copy of the review's; a mask
    # into it (or into the input) must not reach the caller's lists and dicts.
    review = _review()
    original = copy.deepcopy(review)
    record = build_record(review, DecisionFacts(allowed=True), mode="strict", path="kubegate/review", labels={})
    redactor = Redactor(
        mask=parse_mask_rules(
            [
                "/kubegate/userInfo/groups/0",
                "/input/review/userInfo/extra/team",
                {"op": "upsert", "path": "/input/review/object/metadata/annotations/contact", "value": "x"},
            ]
        )
    )

    counts = redactor.redact(record)

    assert counts == {
        "mask:/kubegate/userInfo/groups/0": 1,
        "mask:/input/review/userInfo/extra/team": 1,
        "mask:/input/review/object/metadata/annotations/contact": 1,
        "email": 2,  # both usernames
        "sensitive_env": 1,
    }
    assert record["kubegate"]["userInfo"]["groups"] == ["admins"]  # spliced out, as OPA does
    assert record["input"]["review"]["userInfo"]["extra"] == {}
    assert record["input"]["review"]["object"]["metadata"]["annotations"] == {"contact": "x"}
    assert review == original


def test_an_upsert_value_is_copied_into_each_record() -> None:
    # A later rule that edits inside the upserted value must not change the
    # rule itself, or the next record would get the edited value.
    value = {"shown": "yes", "hidden": "no"}
    redactor = Redactor(
        mask=parse_mask_rules(
            [{"op": "upsert", "path": "/input/meta", "value": value}, "/input/meta/hidden"],
        )
    )
    records: list[dict[str, Any]] = [{"input": {"n": n}} for n in range(2)]
    for record in records:
        assert redactor.redact(record) == {"mask:/input/meta": 1, "mask:/input/meta/hidden": 1}
    assert [r["input"] for r in records] == [{"n": 0, "meta": {"shown": "yes"}}, {"n": 1, "meta": {"shown": "yes"}}]
    assert redactor.mask[0].value == {"shown": "yes", "hidden": "no"}
    records[0]["input"]["meta"]["shown"] = "edited"
    assert records[1]["input"]["meta"] == {"shown": "yes"}


def test_the_default_replacement_names_the_rule() -> None:
    record: dict[str, Any] = {"input": {"a": "mail me: x@example.org", "b": "Bearer abcdefgh12345"}}
    assert Redactor().redact(record) == {"email": 1, "bearer_token": 1}
    assert record["input"] == {"a": "mail me: <redacted:email>", "b": "Bearer <redacted:bearer_token>"}


def test_non_string_values_pass_through_untouched() -> None:
    record: dict[str, Any] = {"input": {"n": 4111111111111111, "ok": True, "none": None, "f": 1.5}}
    assert Redactor().redact(record) == {}
    assert record["input"] == {"n": 4111111111111111, "ok": True, "none": None, "f": 1.5}


def test_a_record_without_input_gets_no_erased_list() -> None:
    record: dict[str, Any] = {"decision_id": "d", "kubegate": {"namespace": "shop"}}
    redactor = Redactor(mask=parse_mask_rules(["/input/password", "/result/x"]))
    assert redactor.redact(record) == {}
    assert record == {"decision_id": "d", "kubegate": {"namespace": "shop"}}


def test_an_upsert_creates_a_missing_section() -> None:
    record: dict[str, Any] = {"decision_id": "d"}
    redactor = Redactor(mask=parse_mask_rules([{"op": "upsert", "path": "/result/x", "value": 1}]))
    assert redactor.redact(record) == {"mask:/result/x": 1}
    assert record == {"decision_id": "d", "result": {"x": 1}, "masked": ["/result/x"]}


# ---------------------------------------------------------------- {hash} pseudonyms


def _pseudonym(key: str, value: str) -> str:
    return hmac.new(key.encode(), value.encode(), hashlib.sha256).hexdigest()[:16]


def test_hash_pseudonyms_are_keyed_hmac_sha256_and_stable_across_redactors() -> None:
    first = Redactor(replacement="{rule}#{hash}", hash_key="key-one")
    second = Redactor(replacement="{rule}#{hash}", hash_key="key-one")
    other = Redactor(replacement="{rule}#{hash}", hash_key="key-two")

    def redacted(redactor: Redactor, text: str) -> str:
        record: dict[str, Any] = {"input": {"v": text}}
        redactor.redact(record)
        return str(record["input"]["v"])

    a = redacted(first, "carol@example.com")
    assert a == "email#" + _pseudonym("key-one", "carol@example.com")
    assert redacted(second, "carol@example.com") == a
    assert redacted(first, "dave@example.com") != a
    b = redacted(other, "carol@example.com")
    assert b == "email#" + _pseudonym("key-two", "carol@example.com")
    assert b != a
    # The pseudonym is 16 hex digits, and the value itself is gone.
    assert len(a.split("#")[1]) == 16 and int(a.split("#")[1], 16) >= 0
    assert "carol" not in a


def test_hash_replacement_without_a_key_is_refused() -> None:
    with pytest.raises(InputError) as info:
        Redactor(replacement="<{rule}:{hash}>")
    assert info.value.code == "invalid_redaction_config"
    assert info.value.location is None
    assert "needs a hashKey" in info.value.message


def test_unknown_detector_is_refused() -> None:
    with pytest.raises(InputError) as info:
        Redactor(detectors=("email", "ssn", "iban"))
    assert info.value.code == "invalid_redaction_config"
    assert info.value.message.startswith("unknown detector(s) iban, ssn; known: secret_data, sensitive_env")


# ---------------------------------------------------------------- mask rule parsing


def test_parse_mask_rules_reads_strings_and_ops() -> None:
    rules = parse_mask_rules(
        [
            "/input/a~1b/c~0d",
            {"path": "/input/x"},
            {"op": "remove", "path": "/result/y", "value": "ignored"},
            {"op": "upsert", "path": "/input/z", "value": None},
            {"op": "upsert", "path": "/kubegate/userInfo/groups", "value": []},
        ]
    )
    assert rules == [
        MaskRule(("input", "a/b", "c~d"), "remove", None, "/input/a~1b/c~0d"),
        MaskRule(("input", "x"), "remove", None, "/input/x"),
        MaskRule(("result", "y"), "remove", "ignored", "/result/y"),
        MaskRule(("input", "z"), "upsert", None, "/input/z"),
        MaskRule(("kubegate", "userInfo", "groups"), "upsert", [], "/kubegate/userInfo/groups"),
    ]


def test_the_tilde_escapes_are_decoded_in_rfc_6901_order() -> None:
    # "~01" is a literal "~1", not a slash.
    (rule,) = parse_mask_rules(["/input/~01"])
    assert rule.path == ("input", "~1")


@pytest.mark.parametrize(
    ("rules", "index", "problem"),
    [
        (["input/password"], 0, "'input/password' is not a JSON pointer (it must start with /)"),
        (["/input/a", "/decision_id"], 1, "'/decision_id' does not point into /input, /result or /kubegate"),
        (["/"], 0, "'/' does not point into /input, /result or /kubegate"),
        (["/input/ok", ""], 1, "'' is not a JSON pointer (it must start with /)"),
        ([{"op": "upsert", "path": "/input/x"}], 0, "an upsert needs a value"),
        ([{"op": "replace", "path": "/input/x", "value": 1}], 0, "expected a JSON pointer or {op: remove|upsert"),
        ([{"op": "remove"}], 0, "expected a JSON pointer or {op: remove|upsert"),
        (["/input/ok", 42], 1, "expected a JSON pointer or {op: remove|upsert"),
        ([{"path": "input/x"}], 0, "'input/x' is not a JSON pointer"),
    ],
)
def test_bad_mask_rules(rules: list[Any], index: int, problem: str) -> None:
    with pytest.raises(InputError) as info:
        parse_mask_rules(rules, "mask.yaml")
    assert info.value.code == "invalid_mask_rule"
    assert info.value.location == Location("mask.yaml")
    assert info.value.message.startswith(f"mask rule {index}: {problem}")


# ---------------------------------------------------------------- load_redaction_config


def test_load_a_full_config(tmp_path: Path) -> None:
    path = _config_text(
        tmp_path,
        """\
mask:                       # OPA mask rules
- /input/review/userInfo/extra
- {op: upsert, path: /input/review/object/spec/nodeName, value: "**"}
detectors: [email, sensitive_env]
replacement: "<{rule}:{hash}>"
hashKey: "s3cret"
sensitiveEnvPattern: "(?i)^(db_)?password$"
""",
    )
    redactor = load_redaction_config(path)
    assert redactor.mask == [
        MaskRule(("input", "review", "userInfo", "extra"), "remove", None, "/input/review/userInfo/extra"),
        MaskRule(
            ("input", "review", "object", "spec", "nodeName"), "upsert", "**", "/input/review/object/spec/nodeName"
        ),
    ]
    assert redactor.detectors == ("email", "sensitive_env")
    assert redactor.replacement == "<{rule}:{hash}>"
    assert redactor.hash_key == "s3cret"
    assert "s3cret" not in repr(redactor)
    assert redactor.sensitive_env == "(?i)^(db_)?password$"

    record: dict[str, Any] = {
        "input": {
            "review": {
                "userInfo": {"username": "u", "extra": {"k": ["v"]}},
                "object": {
                    "spec": {
                        "nodeName": "n1",
                        "containers": [
                            {"env": [{"name": "DB_PASSWORD", "value": "p"}, {"name": "API_TOKEN", "value": "t"}]}
                        ],
                    }
                },
            }
        }
    }
    counts = redactor.redact(record)
    assert counts == {
        "mask:/input/review/userInfo/extra": 1,
        "mask:/input/review/object/spec/nodeName": 1,
        "sensitive_env": 1,
    }
    env = record["input"]["review"]["object"]["spec"]["containers"][0]["env"]
    assert env == [
        {"name": "DB_PASSWORD", "value": f"<sensitive_env:{_pseudonym('s3cret', 'p')}>"},
        {"name": "API_TOKEN", "value": "t"},
    ]


@pytest.mark.parametrize("text", ["", "# nothing configured\n", "{}\n", "mask: []\n"])
def test_an_empty_config_means_every_detector_and_no_masks(tmp_path: Path, text: str) -> None:
    redactor = load_redaction_config(_config_text(tmp_path, text))
    assert redactor.mask == []
    assert redactor.detectors == DETECTORS
    assert redactor.replacement == "<redacted:{rule}>"


@pytest.mark.parametrize(
    ("text", "line", "column", "problem"),
    [
        ("detectors: [email\nreplacement: x\n", 2, 12, "malformed YAML: expected ',' or ']', but got ':'"),
        ("replacement: a: b\n", 1, 15, "malformed YAML: mapping values are not allowed here"),
        ("hashKey: x\nhashKey: @y\n", 2, 10, "malformed YAML: found character '@' that cannot start any token"),
        ('replacement: "unterminated\n', 2, 1, "malformed YAML: found unexpected end of stream"),
        ("detectors:\n\t- email\n", 2, 1, "malformed YAML: found character '\\t' that cannot start any token"),
    ],
)
def test_bad_yaml_syntax_names_file_line_and_column(
    tmp_path: Path, text: str, line: int, column: int, problem: str
) -> None:
    path = _config_text(tmp_path, text, "broken.yaml")
    error = _load_error(path)
    assert error.code == "yaml_parse_error"
    assert error.location == Location(path, line, column)
    assert error.message == problem
    assert str(error).startswith(f"{path}:{line}:{column}: yaml_parse_error: malformed YAML")


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("mask: []\nredact: [email]\n", 2, 1, "unknown key 'redact': a redaction config has only detectors, hashKey"),
        ("- /input/password\n", 0, 0, "a redaction config is a mapping of mask, detectors, replacement"),
        ("just a string\n", 0, 0, "a redaction config is a mapping of mask, detectors, replacement"),
        ("detectors: email\n", 1, 1, "detectors must be a list of names"),
        ("mask: []\ndetectors: [email, 3]\n", 2, 1, "detectors must be a list of names"),
        ("detectors: [email, ssn]\n", 1, 1, "unknown detector(s) ssn; known: secret_data"),
        ("mask: /input/password\n", 1, 1, "mask must be a list of rules"),
        ("mask: {path: /input/password}\n", 1, 1, "mask must be a list of rules"),
        ('sensitiveEnvPattern: "(unclosed"\n', 1, 1, "sensitiveEnvPattern: missing ), unterminated subpattern"),
        ('mask: []\nreplacement: "<{rule}:{hash}>"\n', 2, 1, "a replacement with {hash} needs a hashKey"),
    ],
)
def test_invalid_config_is_reported_at_its_key(tmp_path: Path, text: str, line: int, column: int, message: str) -> None:
    path = _config_text(tmp_path, text, "redaction.yaml")
    error = _load_error(path)
    assert error.code == "invalid_redaction_config"
    assert error.location == (Location(path, line, column) if line else Location(path))
    assert error.message.startswith(message)
    where = f"{path}:{line}:{column}" if line else path
    assert str(error).startswith(f"{where}: invalid_redaction_config: ")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("mask:\n- /input/ok\n- input/password\n", 3, "mask rule 1: 'input/password' is not a JSON pointer"),
        ("mask:\n- {op: upsert, path: /input/x}\n", 2, "mask rule 0: an upsert needs a value"),
        ("mask:\n- {op: erase, path: /input/x}\n", 2, "mask rule 0: expected a JSON pointer or {op: remove|upsert"),
        ("mask:\n- /input/ok\n- /labels/id\n", 3, "mask rule 1: '/labels/id' does not point into /input"),
    ],
)
def test_a_bad_mask_rule_in_a_config_keeps_its_own_code_and_names_its_line(
    tmp_path: Path, text: str, line: int, message: str
) -> None:
    path = _config_text(tmp_path, text, "redaction.yaml")
    error = _load_error(path)
    assert error.code == "invalid_mask_rule"
    assert error.location == Location(path, line, 3)
    assert error.message.startswith(message)


def test_a_missing_config_file(tmp_path: Path) -> None:
    path = str(tmp_path / "absent.yaml")
    error = _load_error(path)
    assert error.code == "invalid_redaction_config"
    assert error.location == Location(path)
    assert error.message == "cannot read the redaction config: No such file or directory"
