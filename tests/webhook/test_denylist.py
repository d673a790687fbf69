"""Deny list: loading with located errors, and matching."""

from __future__ import annotations

from pathlib import Path

import pytest

from kubegate.engine.inputs import build_review
from kubegate.errors import InputError
from kubegate.webhook.denylist import images_of, load_deny_list
from tests.webhook.conftest import DENY_LIST, obj


def test_rules_match_on_every_field_they_set() -> None:
    deny_list = load_deny_list(str(DENY_LIST))
    blocked = deny_list.match(build_review(obj("pod-blocked-image")))
    assert blocked is not None and blocked.name == "incident-4711"
    assert deny_list.match(build_review(obj("pod-good"))) is None
    quarantined = obj("pod-good")
    quarantined["metadata"]["namespace"] = "quarantine-1"
    assert deny_list.match(build_review(quarantined)) is not None
    # freeze-quarantine is limited to CREATE and UPDATE.
    assert deny_list.match(build_review(quarantined, operation="DELETE")) is None
    rule = deny_list.rules[1]
    assert rule.message == "denied by the kubegate deny list rule 'freeze-quarantine'"


def test_images_of_workloads() -> None:
    assert list(images_of(obj("cronjob-init-without-limits"))) == [
        "registry.example/report:1.0.0",
        "registry.example/fetch:1.0.0",
    ]
    assert list(images_of(obj("deployment-good"))) == ["registry.example/web:2.0.0"]
    assert list(images_of(obj("configmap-protected"))) == []


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("kind: DenyList\nrules:\n- name: r\n", ".rules[0]"),
        ("kind: DenyList\nrules:\n- name: r\n  images: []\n", ".rules[0].images"),
        ("kind: DenyList\nrules:\n- name: r\n  pods: [x]\n", "'pods' was unexpected"),
        ("kind: Other\nrules: []\n", ".kind"),
        ("kind: DenyList\nrules: [\n", "yaml"),
    ],
)
def test_bad_deny_lists_are_located(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "deny.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as info:
        load_deny_list(str(path))
    assert fragment in str(info.value)
    assert info.value.location is not None and info.value.location.file == str(path)
