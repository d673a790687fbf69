"""Fuzzing the loaders: mutated manifests, policy files and policy objects give a
result or a KubegateError with a code, never another exception; ``kubegate
check`` run on them exits 0, 1 or 2, never with a traceback.

Bounded to a few seconds each; ``KUBEGATE_FUZZ_EXAMPLES=N`` runs N examples per
test (see tests/policy/fuzzing.py).
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kubegate.cli.main import cli
from kubegate.engine.engine import Engine
from kubegate.errors import KubegateError
from kubegate.policy.catalog import build_catalog
from kubegate.policy.documents import _load_json, load_documents
from kubegate.policy.loader import compile_dsl_sources, load_policy_objects, load_policy_texts
from kubegate.yamlio import read_yaml
from tests.policy.fuzzing import (
    DSL_SEEDS,
    MANIFEST_SEEDS,
    POLICY_SEEDS,
    REGO_SEEDS,
    assert_kubegate_error,
    fuzz_settings,
    mutated_object,
    mutated_text,
)

ALL_YAML = {**MANIFEST_SEEDS, **POLICY_SEEDS}
_ENGINE_POLICIES = {
    k: v
    for k, v in {**POLICY_SEEDS, **REGO_SEEDS, **DSL_SEEDS}.items()
    if k.startswith(
        ("examples/policies/", "tests/webhook/", "src/kubegate/policy/library/pod_", "src/kubegate/policy/library/lib_")
    )
}
JSON_SEEDS = {
    name.rsplit(".", 1)[0] + ".json": json.dumps([d for d in yaml.safe_load_all(text) if d is not None], indent=1)
    for name, text in ALL_YAML.items()
}


def _catalog_of(files: dict[str, str]) -> None:
    catalog = build_catalog(compile_dsl_sources(load_policy_texts(files)))
    for error in (*catalog.errors, *catalog.warnings):
        assert_kubegate_error(error)
    for policy in catalog.policies:
        policy.to_dict()


@fuzz_settings(300)
@given(mutated_text(ALL_YAML))
def test_mutated_yaml_documents_load_or_fail_with_a_located_code(case: tuple[str, str]) -> None:
    name, text = case
    try:
        docs = load_documents(text, name)
    except KubegateError as exc:
        assert_kubegate_error(exc, located=True)
        return
    for doc in docs:
        json.dumps(doc.obj)  # plain JSON data: str keys, finite numbers
        doc.obj.get("kind")


@fuzz_settings(200)
@given(mutated_text(JSON_SEEDS))
def test_mutated_json_documents_load_or_fail_with_a_located_code(case: tuple[str, str]) -> None:
    name, text = case
    try:
        docs = _load_json(text, name)
    except KubegateError as exc:
        assert_kubegate_error(exc, located=True)
        return
    for doc in docs:
        json.dumps(doc.obj)


@fuzz_settings(150)
@given(mutated_text({**POLICY_SEEDS, **REGO_SEEDS}), st.sampled_from(sorted(POLICY_SEEDS)))
def test_mutated_policy_files_give_a_catalog_with_coded_errors(case: tuple[str, str], other: str) -> None:
    name, text = case
    files = {name: text, other: POLICY_SEEDS[other]} if other != name else {name: text}
    _catalog_of(files)


@fuzz_settings(150)
@given(mutated_object({**POLICY_SEEDS, **MANIFEST_SEEDS}))
def test_policy_objects_with_wrong_types_give_coded_errors(case: tuple[str, Any]) -> None:
    _, obj = case
    catalog = build_catalog(compile_dsl_sources(load_policy_objects([obj])))
    for error in (*catalog.errors, *catalog.warnings):
        assert_kubegate_error(error)
    # The same object written as YAML and read back (when PyYAML can write it).
    try:
        text = yaml.safe_dump(obj, allow_unicode=True)
    except (yaml.YAMLError, TypeError, ValueError, RecursionError):
        return
    _catalog_of({"dumped.yaml": text})


@fuzz_settings(40)
@given(mutated_text({**POLICY_SEEDS, **REGO_SEEDS, **DSL_SEEDS}, max_edits=3))
def test_engine_construction_from_mutated_policy_dirs(case: tuple[str, str]) -> None:
    name, text = case
    with tempfile.TemporaryDirectory() as tmp:
        for seed, seed_text in _ENGINE_POLICIES.items():
            (Path(tmp) / Path(seed).name).write_text(seed_text, "utf-8")
        (Path(tmp) / Path(name).name).write_text(text, "utf-8", errors="surrogatepass")
        engine = Engine([tmp], builtin=False)
        try:
            for error in (*engine.errors, *engine.warnings):
                assert_kubegate_error(error)
            engine.review(yaml.safe_load(MANIFEST_SEEDS["examples/manifests/payments-api.yaml"]))
        finally:
            engine.close()


def _check(args: list[str]) -> None:
    result = CliRunner().invoke(cli, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 1, 2), (result.exit_code, result.stderr)
    assert "Traceback" not in result.output and "internal_error" not in result.stderr


_CHECK_POLICIES = {
    k: v for k, v in POLICY_SEEDS.items() if k.startswith("examples/policies/") or k.startswith("tests/webhook/")
}


@fuzz_settings(40)
@given(mutated_text(MANIFEST_SEEDS, max_edits=3), mutated_text(_CHECK_POLICIES, max_edits=2), st.booleans())
def test_check_on_mutated_manifests_and_policies_never_crashes(
    manifest: tuple[str, str], policy: tuple[str, str], builtin: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "policies").mkdir()
        for name, text in _CHECK_POLICIES.items():
            (root / "policies" / Path(name).name).write_text(text, "utf-8")
        (root / "policies" / Path(policy[0]).name).write_text(policy[1], "utf-8", errors="surrogatepass")
        (root / "in.yaml").write_text(manifest[1], "utf-8", errors="surrogatepass")
        args = ["check", str(root / "in.yaml"), "-p", str(root / "policies"), "-o", "json"]
        _check(args if builtin else [*args, "--no-builtin"])


@fuzz_settings(60)
@given(mutated_text({"examples/parameters.yaml": MANIFEST_SEEDS["examples/parameters.yaml"]}))
def test_check_with_a_mutated_parameters_file_never_crashes(case: tuple[str, str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(case[1], "utf-8", errors="surrogatepass")
        manifest = str(Path(__file__).parents[2] / "examples/manifests/payments-api.yaml")
        _check(["check", manifest, "--parameters", str(params)])


@fuzz_settings(200)
@given(mutated_text(ALL_YAML))
def test_single_document_reader_is_bounded_too(case: tuple[str, str]) -> None:
    try:
        read_yaml(case[1], case[0])
    except KubegateError as exc:
        assert_kubegate_error(exc, located=True)
