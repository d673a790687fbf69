"""The authorizer library: ``cases/library/authz.yaml`` evaluated with the
``authorizer`` variables bound, and the offline authorizer's config files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubegate.cel.env import environment, runtime_environment
from kubegate.cel.library import authz
from kubegate.cel.library.authz_config import DEFAULT_CONFIG, AuthorizerConfig, AuthorizerRule, Request, authorize
from kubegate.cel.library.authz_files import AuthorizerConfigError, load_authorizer_config, read_authorizer_config
from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression, compile_internal

CASES = Path(__file__).parent.parent / "cases" / "library" / "authz.yaml"
VARIABLES = ["object", *authz.VARIABLES]
RUNTIME_VARIABLES = [*VARIABLES, authz.REQUEST_RESOURCE_BINDING]


def _cases() -> list[Any]:
    found = []
    for case in yaml.safe_load(CASES.read_text()):
        marks = [pytest.mark.skip(reason=case["skip"])] if "skip" in case else []
        found.append(pytest.param(case, id=case["expr"], marks=marks))
    return found


def _bindings(case: dict[str, Any]) -> dict[str, Any]:
    config = read_authorizer_config(case["config"], "authz.yaml case") if "config" in case else None
    request = {**case.get("request", {}), "userInfo": case.get("user")}
    return {
        "object": None,
        "authorizer": authz.authorizer_value(case.get("user"), config),
        authz.REQUEST_RESOURCE_BINDING: authz.request_resource_value(request, config),
    }


@pytest.mark.parametrize("case", _cases())
def test_yaml_case(case: dict[str, Any]) -> None:
    source = EmbeddedCel(case["expr"], "t")
    if "compile_error" in case:
        with pytest.raises(CelError) as info:
            compile_expression(source, VARIABLES)
        assert case["compile_error"] in info.value.message
        return
    compile_expression(source, VARIABLES)  # the user's text checks as written
    program = compile_internal(source, authz.rewrite_request_resource(case["expr"]), RUNTIME_VARIABLES)
    assert program is not None
    bindings = activation(program, _bindings(case))
    if "error" in case:
        with pytest.raises(CelError) as info:
            program.evaluate(bindings)
        assert case["error"] in info.value.message
        return
    got = program.evaluate(bindings)
    assert got == case["want"] and type(got) is type(case["want"])


def test_request_resource_is_read_from_its_binding() -> None:
    text = "authorizer.requestResource.check('x') == authorizer . requestResource.check('y')"
    text += " && 'authorizer.requestResource' != ''"
    assert authz.rewrite_request_resource(text) == (
        "__kg_authorizer_request_resource.check('x') == __kg_authorizer_request_resource.check('y')"
        " && 'authorizer.requestResource' != ''"
    )
    assert authz.rewrite_request_resource("myauthorizer.requestResource") == "myauthorizer.requestResource"


def test_the_chain_in_an_environment_with_the_authorizer() -> None:
    rules = "rules: [{users: [u], verbs: [get], apiGroups: [''], resources: [pods]}]"
    config = read_authorizer_config("kind: AuthorizerConfig\n" + rules, "c")
    env = runtime_environment(VARIABLES)
    act = env.Activation({"authorizer": authz.authorizer_value({"username": "u"}, config)})
    text = "authorizer.group('').resource('pods').namespace('x').check('get')"

    def run(expr: str) -> Any:
        environment(VARIABLES).compile(expr)  # checked as declared, evaluated unchecked
        return env.compile(expr, disable_check=True).eval(act).plain_value()

    assert run(text + ".allowed()") is True
    assert run(text + ".error()") == ""
    assert run("authorizer.path('/x').check('get').allowed()") is False  # the other check overload
    decision = run(text)
    assert json.loads(decision.canonical) == {
        "decision": "allow",
        "error": "",
        "reason": 'kubegate offline authorizer: allowed by rule 0 of c to User "u"',
    }


def test_carriers_hold_canonical_json() -> None:
    value = authz.request_resource_value(
        {"resource": {"group": "apps", "version": "v1", "resource": "deployments"}, "subResource": "scale",
         "namespace": "ns", "name": "web", "userInfo": {"username": "alice", "groups": ["g"], "uid": "1"}}
    )  # fmt: skip
    state = json.loads(value.canonical)
    assert value.canonical == json.dumps(state, sort_keys=True, separators=(",", ":"))
    assert state["authorizer"]["user"] == "alice" and state["authorizer"]["groups"] == ["g"]
    assert (state["group"], state["resource"], state["subresource"], state["namespace"], state["name"]) == (
        "apps", "deployments", "scale", "ns", "web",
    )  # fmt: skip
    assert state["authorizer"]["config"] == authz.register(DEFAULT_CONFIG)
    assert authz.authorizer_value(None) == authz.authorizer_value({}, DEFAULT_CONFIG)  # same state, same message


def _request(**fields: Any) -> Request:
    base: dict[str, Any] = {"user": "u", "groups": (), "verb": "get", "resource_request": True}
    return Request(**{**base, **fields})


def _rule(**fields: Any) -> AuthorizerRule:
    return AuthorizerRule(**{"verbs": ("get",), "api_groups": ("",), "users": ("u",), **fields})


@pytest.mark.parametrize(
    ("rule", "request_fields", "allowed"),
    [
        (_rule(verbs=("*",), resources=("pods",)), {"resource": "pods"}, True),
        (_rule(resources=("pods",)), {"resource": "pods", "subresource": "log"}, False),
        (_rule(resources=("pods/log",)), {"resource": "pods", "subresource": "log"}, True),
        (_rule(resources=("*/log",)), {"resource": "pods", "subresource": "log"}, True),
        (_rule(resources=("*/log",)), {"resource": "pods"}, False),
        (_rule(api_groups=(), resources=("pods",)), {"resource": "pods"}, False),  # no apiGroups: no match (RBAC)
        (_rule(resources=("pods",), resource_names=("a",)), {"resource": "pods", "name": "b"}, False),
        (_rule(resources=("pods",), namespaces=("a",)), {"resource": "pods"}, False),
        (_rule(resources=("pods",), users=(), groups=("g",)), {"resource": "pods", "groups": ("g",)}, True),
        (_rule(resources=("pods",), users=("v",)), {"resource": "pods"}, False),
        (_rule(non_resource_urls=("/api/*",)), {"resource_request": False, "path": "/api/v1"}, True),
        (_rule(non_resource_urls=("/api",)), {"resource_request": False, "path": "/api/v1"}, False),
    ],
)
def test_rbac_rule_matching(rule: AuthorizerRule, request_fields: dict[str, Any], allowed: bool) -> None:
    verdict = authorize(AuthorizerConfig(rules=(rule,)), _request(**request_fields))
    assert (verdict.decision == "allow") is allowed


def test_role_bindings_apply_only_in_their_namespace_and_never_to_urls() -> None:
    config = read_authorizer_config(
        """
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: all}
rules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"]}, {verbs: ["*"], nonResourceURLs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: dev}
roleRef: {kind: ClusterRole, name: all}
subjects: [{kind: User, name: u}, {kind: ServiceAccount, name: bot}]
""",
        "rbac.yaml",
    )
    assert authorize(config, _request(resource="pods", namespace="dev")).decision == "allow"
    assert authorize(config, _request(resource="pods", namespace="prod")).decision == "noOpinion"
    assert authorize(config, _request(resource="nodes")).decision == "noOpinion"
    assert authorize(config, _request(resource_request=False, path="/healthz")).decision == "noOpinion"
    bot = _request(user="system:serviceaccount:dev:bot", resource="pods", namespace="dev")
    assert authorize(config, bot).reason == (
        'RBAC: allowed by RoleBinding "b/dev" of ClusterRole "all" to ServiceAccount "dev/bot"'
    )


def test_default_decisions() -> None:
    request = _request(resource="pods")
    assert authorize(AuthorizerConfig(default="allow"), request).decision == "allow"
    errored = authorize(AuthorizerConfig(default="error"), request)
    assert errored.decision == "noOpinion" and errored.error.startswith("kubegate offline authorizer")
    masters = _request(groups=("system:masters",))
    assert authorize(DEFAULT_CONFIG, masters).decision == "allow"
    assert authorize(AuthorizerConfig(privileged_groups=()), masters).decision == "noOpinion"


def _error(text: str) -> AuthorizerConfigError:
    with pytest.raises(AuthorizerConfigError) as info:
        read_authorizer_config(text, "authz.yaml")
    assert info.value.code == "invalid_authorizer_config"
    return info.value


def test_config_errors_are_located() -> None:
    bad_verbs = _error("kind: AuthorizerConfig\nrules:\n- users: [a]\n  verbs: get\n")
    assert str(bad_verbs.location) == "authz.yaml:4:10"
    assert "rules/0/verbs" in bad_verbs.message
    unknown = _error("kind: AuthorizerConfig\ndefualt: allow\n")
    assert str(unknown.location) == "authz.yaml:1:1" and "defualt" in unknown.message
    no_subject = _error("kind: AuthorizerConfig\nrules:\n- verbs: [get]\n  nonResourceURLs: [/x]\n")
    assert str(no_subject.location) == "authz.yaml:3:3"
    kind = _error("apiVersion: v1\nkind: ConfigMap\n")
    assert str(kind.location) == "authz.yaml:2:7" and "ConfigMap" in kind.message
    version = _error("apiVersion: rbac.authorization.k8s.io/v1beta1\nkind: Role\nmetadata: {name: r}\n")
    assert str(version.location) == "authz.yaml:1:13"
    missing = _error(
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: b}\n"
        "roleRef: {kind: ClusterRole, name: nope}\n"
    )
    assert str(missing.location) == "authz.yaml:4:36" and "'nope' is not defined" in missing.message
    twice = _error("kind: AuthorizerConfig\n---\nkind: AuthorizerConfig\n")
    assert twice.location is not None and twice.location.line == 3
    syntax = _error("kind: [\n")
    assert syntax.details["cause"] == "yaml_parse_error" and syntax.location is not None


def test_load_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "authz.yaml"
    path.write_text("kind: AuthorizerConfig\ndefault: allow\nprivilegedGroups: []\n")
    config = load_authorizer_config(str(path))
    assert config.default == "allow" and config.privileged_groups == () and config.rules == ()
    with pytest.raises(AuthorizerConfigError) as info:
        load_authorizer_config(str(tmp_path / "missing.yaml"))
    assert info.value.code == "invalid_authorizer_config" and info.value.details["cause"] == "file_not_found"
