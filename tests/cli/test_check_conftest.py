"""``kubegate check`` with conftest's semantics: --data, exceptions, --namespace,
--combine, documents that are not Kubernetes objects, and conftest's own examples.

The fixtures (tests/cli/fixtures/conftest) are written for kubegate; each test
states what ``conftest test`` reports on them (failures, warnings, exceptions),
worked out from conftest's ``policy/engine.go``, and checks kubegate agrees.
"""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import xmlschema
import yaml
from click.testing import CliRunner

from kubegate.cli.main import cli
from kubegate.engine.engine import Engine
from kubegate.errors import InputError
from kubegate.policy.catalog import RegoFile
from tests.cli.conftest import BACKEND_NAMES
from tests.policy.conftest import TEMPLATE

FIXTURES = Path(__file__).parent / "fixtures"
CONFTEST = FIXTURES / "conftest"
SCHEMA = xmlschema.XMLSchema(str(FIXTURES / "junit.xsd"))
MIRROR = Path("/work/.mirror/open-policy-agent+conftest/repo")


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def check_json(*args: str) -> tuple[int, dict[str, Any]]:
    code, out, err = run("check", "--no-builtin", "-o", "json", *args)
    assert out, err
    return code, json.loads(out)


def counts(doc: dict[str, Any]) -> tuple[int, int, int]:
    """conftest's three numbers: failures, warnings, exceptions."""
    s = doc["summary"]
    return s["deny"], s["warn"], s["exceptions"]


def by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in doc["results"]}


# ---------------------------------------------------------------- exceptions

EXCEPTIONS = CONFTEST / "exceptions"


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_exceptions_suppress_rules_as_conftest(backend: str) -> None:
    # conftest test -p exceptions/policy exceptions/deployments.yaml:
    # FAIL rogue x2 (no team label, privileged); WARN legacy-batch (latest tag);
    # EXCP node-agent x2 (privileged, latest), legacy-batch x1 ("" = plain deny),
    # kube-proxy x1 (privileged, though nothing was privileged). Exit 1.
    code, doc = check_json("--backend", backend, "-p", str(EXCEPTIONS / "policy"), str(EXCEPTIONS / "deployments.yaml"))
    assert code == 1 and doc["errors"] == []
    assert counts(doc) == (2, 1, 4)
    results = by_name(doc)
    assert results["web"]["exceptions"] == [] and results["web"]["violations"] == []
    agent = results["node-agent"]
    assert agent["violations"] == []
    assert {(e["rule"], e["msg"]) for e in agent["exceptions"]} == {
        ("deny_privileged", 'data.main.exception[_][_] == "privileged"'),
        ("warn_latest", 'data.main.exception[_][_] == "latest"'),
    }
    assert all(len(e["suppressed"]) == 1 for e in agent["exceptions"])
    legacy = results["legacy-batch"]
    assert [v["enforcement"] for v in legacy["violations"]] == ["warn"]
    assert [(e["rule"], e["suppressed"]) for e in legacy["exceptions"]] == [
        ("deny", ["legacy-batch has no team label"])
    ]
    assert len(results["rogue"]["violations"]) == 2 and results["rogue"]["exceptions"] == []
    assert [(e["rule"], e["suppressed"]) for e in results["kube-proxy"]["exceptions"]] == [("deny_privileged", [])]


def test_exceptions_text_lines_and_summary() -> None:
    code, out, _ = run("check", "--no-builtin", "-p", str(EXCEPTIONS / "policy"), str(EXCEPTIONS / "deployments.yaml"))
    assert code == 1
    assert 'EXCP   main  data.main.exception[_][_] == "latest"' in out
    assert "suppressed warn_latest: node-agent: container main uses a latest tag" in out
    assert out.rstrip().endswith("2 deny, 1 warn, 0 dryrun, 4 exceptions -- FAILED")


def test_exceptions_alone_do_not_fail(tmp_path: Path) -> None:
    docs = [d for d in yaml.safe_load_all((EXCEPTIONS / "deployments.yaml").read_text())]
    (tmp_path / "ok.yaml").write_text(yaml.safe_dump_all([d for d in docs if d["metadata"]["name"] == "node-agent"]))
    code, doc = check_json("-p", str(EXCEPTIONS / "policy"), str(tmp_path / "ok.yaml"))
    assert code == 0 and counts(doc) == (0, 0, 2) and doc["summary"]["passed"] is True


def test_exceptions_in_ci_formats() -> None:
    args = ("check", "--no-builtin", "-p", str(EXCEPTIONS / "policy"), str(EXCEPTIONS / "deployments.yaml"))
    _, sarif, _ = run(*args, "-o", "sarif")
    results = json.loads(sarif)["runs"][0]["results"]
    suppressed = [r for r in results if r.get("suppressions")]
    # one per suppressed result (3) and one for the exception that suppressed nothing
    assert len(suppressed) == 4 and len(results) - len(suppressed) == 3
    assert {r["suppressions"][0]["kind"] for r in suppressed} == {"inSource"}
    assert {r["level"] for r in suppressed} == {"error", "warning", "note"}

    _, junit, _ = run(*args, "-o", "junit")
    SCHEMA.validate(junit)
    root = ET.fromstring(junit)
    assert root.get("failures") == "1"  # rogue only: exceptions never fail
    agent = root.find(".//testcase[@name='Deployment default/node-agent (line 21)']")
    assert agent is not None and agent.find("failure") is None
    out = agent.find("system-out")
    assert out is not None and out.text is not None and "exception: [main] data.main.exception" in out.text

    _, tap, _ = run(*args, "-o", "tap")
    assert "ok 2 - " in tap and "not ok 4 - " in tap and "  exceptions:" in tap
    assert "4 exceptions, 0 errors: FAILED" in tap

    _, github, _ = run(*args, "-o", "github")
    notices = [line for line in github.splitlines() if line.startswith("::notice")]
    assert len(notices) == 4 and all("title=kubegate exception%3A main" in n for n in notices)


def test_v0_exception_syntax(tmp_path: Path) -> None:
    (tmp_path / "policy.rego").write_text(
        'package main\n\ndeny_latest[msg] {\n  endswith(input.spec.image, ":latest")\n  msg := "latest"\n}\n\n'
        'exception[rules] {\n  input.metadata.name == "ok"\n  rules := ["latest"]\n}\n'
    )
    pods = [{"kind": "Pod", "apiVersion": "v1", "metadata": {"name": n}, "spec": {"image": "a:latest"}} for n in "ab"]
    pods.append({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "ok"}, "spec": {"image": "a:latest"}})
    (tmp_path / "pods.yaml").write_text(yaml.safe_dump_all(pods))
    code, doc = check_json("-p", str(tmp_path / "policy.rego"), str(tmp_path / "pods.yaml"))
    assert code == 1 and counts(doc) == (2, 0, 1)


def test_exception_rule_of_a_review_shaped_package_is_warned(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(
        "package owner\nimport rego.v1\n"
        'deny contains "no owner" if not input.review.object.metadata.labels.owner\n'
        'exception contains [""] if input.review.object.metadata.name == "x"\n'
    )
    (tmp_path / "cm.yaml").write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    code, doc = check_json("-p", str(tmp_path / "p.rego"), str(tmp_path / "cm.yaml"))
    assert code == 1 and counts(doc) == (1, 0, 0)
    assert [w["code"] for w in doc["warnings"]] == ["exception_rule_ignored"]


# ---------------------------------------------------------------- --data

DATA = CONFTEST / "data"


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_data_reaches_plain_policies(backend: str) -> None:
    # conftest test -p data/policy -d data/data data/deployments.yaml: 1 failure
    # (scraper's registry), 1 warning (5 replicas > data.limits.replicas.max).
    args = ("--backend", backend, "-p", str(DATA / "policy"), str(DATA / "deployments.yaml"))
    code, doc = check_json(*args, "-d", str(DATA / "data"))
    assert code == 1 and doc["errors"] == [] and counts(doc) == (1, 1, 0)
    assert by_name(doc)["api"]["violations"] == []
    # without the data no registry is allowed and no limit is known
    code, doc = check_json(*args)
    assert code == 1 and counts(doc) == (2, 0, 0)


def test_data_files_and_prefixes() -> None:
    code, doc = check_json(
        "-p",
        str(DATA / "policy"),
        "--data",
        str(DATA / "data" / "registries.yaml"),
        "--data",
        f"limits:{DATA / 'data' / 'limits' / 'replicas.json'}",
        str(DATA / "deployments.yaml"),
    )
    assert code == 1 and counts(doc) == (1, 1, 0)


@pytest.mark.parametrize(
    ("name", "text", "code", "line"),
    [
        ("bad.yaml", "services: [22,\n", "yaml_parse_error", 2),
        ("inventory.yaml", "inventory: {cluster: {}}\n", "reserved_data_key", 1),
        ("main.json", '{"main": {"deny": ["x"]}}', "rego_compile_error", 7),  # data where a rule is
        ("data.txt", "x", "unsupported_data_file", 0),
    ],
)
def test_bad_data_is_a_located_error(tmp_path: Path, name: str, text: str, code: str, line: int) -> None:
    (tmp_path / name).write_text(text)
    status, doc = check_json("-p", str(DATA / "policy"), "-d", str(tmp_path / name), str(DATA / "deployments.yaml"))
    assert status == 2 and doc["summary"]["passed"] is False
    (error,) = doc["errors"]
    assert error["code"] == code and error["location"]["line"] == line
    expected_file = str(DATA / "policy" / "registry.rego") if code == "rego_compile_error" else str(tmp_path / name)
    assert error["location"]["file"] == expected_file


def test_engine_data_keyword() -> None:
    policy = RegoFile("p.rego", "package main\nimport rego.v1\ndeny contains data.msg if input.kind\n")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}
    with_data = Engine(objects=[policy], builtin=False, data={"msg": "from data"})
    without = Engine(objects=[policy], builtin=False)
    assert [v.message for v in with_data.review(pod).violations] == ["from data"]
    assert without.review(pod).violations == ()
    assert with_data.version != without.version
    without.set_data({"msg": "set later"})
    assert [v.message for v in without.review(pod).violations] == ["set later"]
    with pytest.raises(InputError) as err:
        Engine(objects=[policy], builtin=False, data={"inventory": {}})
    assert err.value.code == "reserved_data_key"


def test_templates_do_not_see_data() -> None:
    template = json.loads(json.dumps(TEMPLATE))
    template["spec"]["targets"][0]["rego"] = (
        "package k8sreplicalimit\n"
        'violation[{"msg": "evaluated"}] { true }\n'
        'violation[{"msg": m}] { m := sprintf("%v", [data.msg]) }\n'
    )
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sReplicaLimit",
        "metadata": {"name": "c"},
        "spec": {},
    }
    engine = Engine(objects=[template, constraint], builtin=False, data={"msg": "visible"})
    assert engine.errors == ()
    result = engine.review({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}})
    # the template ran, and data.msg was undefined: Gatekeeper gives templates data.inventory only
    assert [v.message for v in result.violations] == ["evaluated"]


# ---------------------------------------------------------------- --namespace

NAMESPACES = CONFTEST / "namespaces"


def policies_hit(doc: dict[str, Any]) -> set[str]:
    return {v["policy"] for r in doc["results"] for v in r["violations"]}


@pytest.mark.parametrize(
    ("flags", "hit"),
    [
        ((), {"main", "team.security", "team.network"}),  # kubegate's default: every package
        (("--namespace", "main"), {"main"}),  # conftest's default
        (("-n", "team.*"), {"team.security", "team.network"}),
        (("-n", "team.network", "-n", "main"), {"main", "team.network"}),
        (("-n", "lib.k8s"), set()),  # loaded, but no policy in it
        (("-n", "main", "--all-namespaces"), {"main", "team.security", "team.network"}),
    ],
)
def test_namespaces_select_plain_packages(flags: tuple[str, ...], hit: set[str]) -> None:
    code, doc = check_json("-p", str(NAMESPACES / "policy"), *flags, str(NAMESPACES / "pod.yaml"))
    assert policies_hit(doc) == hit and doc["errors"] == []
    assert doc["summary"]["policies"] == len(hit)  # the packages left out are not counted as checked
    assert code == (1 if hit & {"main", "team.network"} else 0)


def test_unknown_namespace_is_an_error_with_a_hint() -> None:
    code, _, err = run("check", "--no-builtin", "-p", str(NAMESPACES / "policy"), "-n", "mian", str(NAMESPACES))
    assert code == 2 and "unknown_namespace" in err and "did you mean main?" in err


def test_builtin_library_ignores_namespaces() -> None:
    code, out, _ = run("check", "-o", "json", "-p", str(NAMESPACES / "policy"), "-n", "team.network", str(NAMESPACES))
    hit = policies_hit(json.loads(out))
    assert code == 1 and "team.network" in hit and "pod-must-have-resource-limits" in hit and "main" not in hit


# ---------------------------------------------------------------- --combine

COMBINE = CONFTEST / "combine"


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_combine_gives_conftest_policies_one_input(backend: str) -> None:
    # conftest test --combine -p combine/policy combine/: package main sees
    # [{path, contents}] of the 4 documents: FAIL (ConfigMap settings twice),
    # WARN (4 documents). review.owner is Gatekeeper-shaped: kubegate reviews
    # each object with it (b.yaml's ConfigMap has no owner).
    code, doc = check_json("--backend", backend, "--combine", "-p", str(COMBINE / "policy"), str(COMBINE))
    assert code == 1 and doc["errors"] == []
    combined = doc["results"][-1]
    assert combined["source"] == "<combined>"
    assert combined["files"] == [str(COMBINE / n) for n in ("a.yaml", "b.yaml", "c.yaml")]
    assert [(v["policy"], v["enforcement"]) for v in combined["violations"]] == [("main", "deny"), ("main", "warn")]
    assert f"in {COMBINE / 'a.yaml'} and in {COMBINE / 'b.yaml'}" in combined["violations"][0]["message"]
    per_object = [(r["source"], v["policy"]) for r in doc["results"][:-1] for v in r["violations"]]
    assert per_object == [(str(COMBINE / "b.yaml"), "owner-label")]
    assert all("files" not in r for r in doc["results"][:-1])


def test_without_combine_each_document_is_its_own_input() -> None:
    code, doc = check_json("-p", str(COMBINE / "policy"), str(COMBINE))
    messages = [v["message"] for r in doc["results"] for v in r["violations"]]
    assert code == 1 and not any("defined twice" in m for m in messages)
    assert all(r["source"] != "<combined>" for r in doc["results"])


def test_combined_input_in_every_format() -> None:
    args = ("check", "--no-builtin", "--combine", "-p", str(COMBINE / "policy"), str(COMBINE))
    _, text, _ = run(*args)
    assert f"combined input: {COMBINE / 'a.yaml'}, {COMBINE / 'b.yaml'}, {COMBINE / 'c.yaml'}" in text
    _, sarif, _ = run(*args, "-o", "sarif")
    twice = next(r for r in json.loads(sarif)["runs"][0]["results"] if "defined twice" in r["message"]["text"])
    assert [loc["physicalLocation"]["artifactLocation"]["uri"] for loc in twice["locations"]] == [
        str(COMBINE / n) for n in ("a.yaml", "b.yaml", "c.yaml")
    ]
    _, junit, _ = run(*args, "-o", "junit")
    SCHEMA.validate(junit)
    case = next(c for c in ET.fromstring(junit).iter("testcase") if c.get("name", "").startswith("combined input"))
    assert case.find("failure") is not None and case.get("file") is None
    _, tap, _ = run(*args, "-o", "tap")
    assert f"not ok 4 - combined input ({COMBINE / 'a.yaml'}" in tap
    _, github, _ = run(*args, "-o", "github")
    combined = [line for line in github.splitlines() if "combined input" in line]
    assert combined and all("file=" not in line for line in combined)


def test_combine_without_conftest_policies_is_warned() -> None:
    code, doc = check_json("--combine", "-p", str(COMBINE / "policy" / "owner.rego"), str(COMBINE))
    assert "nothing_to_combine" in [w["code"] for w in doc["warnings"]]
    assert all(r["source"] != "<combined>" for r in doc["results"]) and code == 1


# ---------------------------------------------------------------- documents that are not objects

DOCUMENTS = CONFTEST / "documents"


def test_documents_go_to_conftest_policies_only() -> None:
    # conftest test -p documents/policy documents/: server.yaml FAIL (no TLS)
    # and WARN (port 80); secure.json and pod.yaml pass.
    code, out, err = run("check", "-o", "json", "-p", str(DOCUMENTS / "policy"), str(DOCUMENTS))
    doc = json.loads(out)
    assert code == 1, err
    server = next(r for r in doc["results"] if r["source"] == str(DOCUMENTS / "server.yaml"))
    assert [(v["policy"], v["enforcement"]) for v in server["violations"]] == [("main", "deny"), ("main", "warn")]
    secure = next(r for r in doc["results"] if r["source"] == str(DOCUMENTS / "secure.json"))
    assert secure["violations"] == []
    notes = {n["location"]["file"]: n for n in doc["notes"]}
    assert "given only to conftest-style policies (main)" in notes[str(DOCUMENTS / "server.yaml")]["message"]
    assert {n["code"] for n in doc["notes"]} == {"not_a_kubernetes_object"}
    # the built-in library reviewed the Pod only; main found nothing on it
    for result in doc["results"]:
        if result["kind"] != "Pod":
            assert {v["policy"] for v in result["violations"]} <= {"main"}
    pod = next(r for r in doc["results"] if r["kind"] == "Pod")
    assert pod["violations"] and all(v["policy"] != "main" for v in pod["violations"])


def test_documents_are_errors_with_strict_input() -> None:
    code, doc = check_json("--strict-input", "-p", str(DOCUMENTS / "policy"), str(DOCUMENTS))
    assert code == 2 and [e["code"] for e in doc["errors"]] == ["not_a_kubernetes_object"] * 2


# ---------------------------------------------------------------- conftest's own examples


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("conftest")
    archive = subprocess.run(
        ["git", "--git-dir", str(MIRROR), "archive", "HEAD", "examples"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "x", "-C", str(root)], input=archive, check=True)
    return root / "examples"


# (arguments after `kubegate check --no-builtin`, exit status, failures, warnings,
# exceptions): what `conftest test` gives, read from the example policies and, where
# conftest's acceptance.bats pins them, from there. kubegate evaluates every package
# (conftest: --all-namespaces); these examples keep their rules in package main.
CONFTEST_EXAMPLES = [
    ("kubernetes-deployment", ["-p", "kubernetes/policy", "kubernetes/deployment.yaml"], 1, 4, 0, 0),
    ("kubernetes-service", ["-p", "kubernetes/policy", "kubernetes/service.yaml"], 0, 0, 1, 0),
    ("kubernetes-fail-on-warn", ["--fail-on-warn", "-p", "kubernetes/policy", "kubernetes/service.yaml"], 1, 0, 1, 0),
    ("kubernetes-multi-document", ["-p", "kubernetes/policy", "kubernetes/deployment+service.yaml"], 1, 4, 1, 0),
    ("kubernetes-namespace-main", ["-n", "main", "-p", "kubernetes/policy", "kubernetes/deployment.yaml"], 1, 4, 0, 0),
    ("kubernetes-combine", ["--combine", "-p", "kubernetes/combine", "kubernetes/combine/combine.yaml"], 1, 1, 0, 0),
    (
        "kubernetes-combine-files",
        [
            "--combine",
            "-p",
            "kubernetes/combine",
            "kubernetes/combine/deployment.yaml",
            "kubernetes/combine/service.yaml",
        ],
        1,
        1,
        0,
        0,
    ),
    ("exceptions", ["-p", "exceptions/policy", "exceptions/deployments.yaml"], 1, 1, 0, 1),
    ("data", ["-p", "data/policy", "-d", "data/exclusions", "data/service.yaml"], 1, 1, 0, 0),
    (
        "combine",
        ["--combine", "-p", "combine/policy", "combine/team.yaml", "combine/user1.yaml", "combine/user2.yaml"],
        1,
        1,
        0,
        0,
    ),
    (
        "combine-multi-document",
        ["--combine", "-p", "combine/policy", "combine/team.yaml", "combine/users.yaml"],
        1,
        1,
        0,
        0,
    ),
    ("compose", ["-p", "compose/policy", "compose/docker-compose.yml"], 1, 2, 0, 0),
    ("compose-valid", ["-p", "compose/policy", "compose/docker-compose-valid.yml"], 0, 0, 0, 0),
    ("kustomize", ["-p", "kustomize/policy", "kustomize"], 1, 2, 1, 0),
    ("strict-rules-lenient", ["-p", "strict-rules/policy", "kubernetes/deployment.yaml"], 0, 0, 0, 0),
    ("cyclonedx-json", ["-p", "cyclonedx/policy", "cyclonedx/cyclonedx.json"], 0, 0, 0, 0),
]


@pytest.mark.skipif(not MIRROR.exists(), reason="conftest's repository is not mirrored here")
@pytest.mark.parametrize(
    ("args", "status", "failures", "warnings", "exceptions"),
    [case[1:] for case in CONFTEST_EXAMPLES],
    ids=[case[0] for case in CONFTEST_EXAMPLES],
)
def test_conftest_examples_behave_as_conftest_test(
    examples: Path, args: list[str], status: int, failures: int, warnings: int, exceptions: int
) -> None:
    resolved = [str(examples / a) if (examples / a.split(":")[-1]).exists() else a for a in args]
    code, doc = check_json(*resolved)
    assert doc["errors"] == []
    assert (code, *counts(doc)) == (status, failures, warnings, exceptions)


@pytest.mark.skipif(not MIRROR.exists(), reason="conftest's repository is not mirrored here")
def test_conftest_exception_example_output(examples: Path) -> None:
    code, out, _ = run(
        "check",
        "--no-builtin",
        "-p",
        str(examples / "exceptions/policy"),
        str(examples / "exceptions/deployments.yaml"),
    )
    # conftest: EXCP - examples/exceptions/deployments.yaml - main - data.main.exception[_][_] == "run_as_root"
    assert code == 1 and 'EXCP   main  data.main.exception[_][_] == "run_as_root"' in out
    assert "Containers must not run as root in Deployment cannot-run-as-root" in out


@pytest.mark.skipif(not MIRROR.exists(), reason="conftest's repository is not mirrored here")
@pytest.mark.parametrize(
    ("args", "code"),
    [
        # conftest exits 1 on a policy that does not compile (undefined function has_field);
        # kubegate reports the located compile error with its exit status for errors, 2.
        (["-p", "serverless/policy", "serverless/serverless.yaml"], "rego_type_error"),
        # AWS SAM templates use YAML tags (!Ref): go-yaml reads them as plain values,
        # kubegate's YAML reader refuses them (a located error).
        (["-p", "awssam/policy", "awssam/lambda.yaml"], "yaml_parse_error"),
    ],
    ids=["serverless-undefined-function", "awssam-yaml-tags"],
)
def test_conftest_examples_kubegate_refuses(examples: Path, args: list[str], code: str) -> None:
    status, doc = check_json(*(str(examples / a) if (examples / a).exists() else a for a in args))
    assert status == 2 and [e["code"] for e in doc["errors"]] == [code]
