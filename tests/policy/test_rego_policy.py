"""Plain Rego packages as policies: entry rules, ids, enforcement, input style, metadata."""

from __future__ import annotations

import textwrap

import pytest

from kubegate.errors import PolicyLoadError
from kubegate.policy.rego_policy import entry_rules, package_info
from kubegate.rego.parser import parse_module


def info(*sources: str):  # type: ignore[no-untyped-def]
    modules = [parse_module(textwrap.dedent(s).lstrip("\n"), f"m{i}.rego") for i, s in enumerate(sources)]
    return package_info(modules[0].package.path, modules)


def test_conftest_style_package() -> None:
    i = info(
        """
        package main
        deny[msg] { input.kind == "Pod"; msg := "no pods" }
        warn_latest[msg] { msg := "latest" }
        helper = 1 { true }
        """
    )
    assert i is not None
    assert i.id == "main"
    assert i.rules == {"deny": "deny", "warn_latest": "warn"}
    assert i.input_style == "object"


def test_gatekeeper_style_package_with_metadata() -> None:
    i = info(
        """
        # METADATA
        # title: No privileged
        # custom:
        #   id: no-privileged
        #   enforcement: dryrun
        #   severity: high
        #   match:
        #     kinds: [{apiGroups: [""], kinds: ["Pod"]}]
        package checks.priv
        violation[{"msg": "x"}] { input.review.object.spec.privileged }
        warn[m] { m := "y" }
        """
    )
    assert i is not None
    assert (i.id, i.title, i.severity, i.input_style) == ("no-privileged", "No privileged", "high", "review")
    assert i.rules == {"violation": "dryrun", "warn": "dryrun"}
    assert i.match.kinds


def test_library_package_is_not_a_policy() -> None:
    assert info("package lib.x\nf(x) = x { true }\n") is None
    assert entry_rules([parse_module("package a\ndeny_fn(x) = x { true }\n", "m.rego")]) == []


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        ("#   enforcement: block", "custom.enforcement 'block'"),
        ("#   input: manifest", "custom.input 'manifest'"),
        ("#   parameters: [1]", "custom.parameters must be a mapping"),
        ("#   id: 5", "custom.id must be a non-empty string"),
    ],
)
def test_invalid_metadata(metadata: str, fragment: str) -> None:
    source = f"# METADATA\n# custom:\n{metadata}\npackage a\ndeny[m] {{ m := 1 }}\n"
    with pytest.raises(PolicyLoadError) as err:
        info(source)
    assert err.value.code == "invalid_policy_metadata" and fragment in err.value.message


def test_conflicting_ids_across_modules() -> None:
    with pytest.raises(PolicyLoadError) as err:
        info(
            "# METADATA\n# custom:\n#   id: a\npackage p\ndeny[m] { m := 1 }\n",
            "# METADATA\n# custom:\n#   id: b\npackage p\ndeny[m] { m := 2 }\n",
        )
    assert err.value.code == "duplicate_policy_id"
