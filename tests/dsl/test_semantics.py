"""What compiled DSL rules decide, evaluated through the engine on real objects."""

from __future__ import annotations

from typing import Any

from kubegate import DslFile, Engine


def engine(source: str, **kwargs: Any) -> Engine:
    e = Engine(objects=[DslFile("t.kgr", source)], builtin=False, **kwargs)
    assert not e.errors, [str(x) for x in e.errors]
    return e


def pod(*containers: dict[str, Any], labels: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop", "labels": labels or {}},
        "spec": {"containers": list(containers), **spec},
    }


def deployment(*containers: dict[str, Any], labels: dict[str, str] | None = None, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "d", "namespace": "shop"},
        "spec": {
            "replicas": replicas,
            "template": {"metadata": {"labels": labels or {}}, "spec": {"containers": list(containers)}},
        },
    }


def messages(e: Engine, obj: dict[str, Any], **kwargs: Any) -> list[str]:
    return sorted(v.message for v in e.review(obj, **kwargs).violations)


EXAMPLE = """
RULE payment_pods_require_seccomp
  ON Pod, Deployment, StatefulSet, DaemonSet, Job, CronJob
  SEVERITY high
  WHEN labels["kubegate.io/pci-scope"] == "true"
   AND ANY container c: c.securityContext.seccompProfile.type NOT IN ("RuntimeDefault", "Localhost")
  THEN DENY("container {c.name} must use a RuntimeDefault or Localhost seccomp profile")
"""


def test_the_issue_example_on_pods_and_workloads() -> None:
    e = engine(EXAMPLE)
    secure = {"name": "ok", "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}}}
    bare = {"name": "bare"}
    unconfined = {"name": "open", "securityContext": {"seccompProfile": {"type": "Unconfined"}}}
    pci = {"kubegate.io/pci-scope": "true"}
    assert messages(e, pod(secure, bare, unconfined, labels=pci)) == [
        "container bare must use a RuntimeDefault or Localhost seccomp profile",
        "container open must use a RuntimeDefault or Localhost seccomp profile",
    ]
    assert messages(e, pod(bare, unconfined)) == []  # not PCI-scoped
    # Workloads resolve to their pod template; init containers count too.
    d = deployment(secure, labels=pci)
    d["spec"]["template"]["spec"]["initContainers"] = [{"name": "init"}]
    result = e.review(d)
    assert [v.message for v in result.violations] == [
        "container init must use a RuntimeDefault or Localhost seccomp profile"
    ]
    (violation,) = result.violations
    assert violation.enforcement == "deny"
    assert violation.details == {
        "rule": "payment_pods_require_seccomp",
        "source": "t.kgr:2:6",
        "severity": "high",
        "container": "init",
    }
    (policy,) = e.policies
    assert str(policy.location) == "t.kgr:2:6" and policy.severity == "high"


def test_missing_fields_are_null_not_errors() -> None:
    e = engine(
        """
RULE ne ON Pod WHEN ANY container c: c.securityContext.runAsUser != 0
  THEN DENY("{c.name} runAsUser {c.securityContext.runAsUser}")
RULE gt ON Pod WHEN ANY container c: c.securityContext.runAsUser > 1000 THEN DENY("{c.name} high uid")
RULE missing ON Pod WHEN ANY container c: c.securityContext.runAsUser MISSING THEN DENY("{c.name} no uid")
"""
    )
    assert messages(e, pod({"name": "a"})) == ["a no uid", "a runAsUser <unset>"]
    assert messages(e, pod({"name": "b", "securityContext": {"runAsUser": 2000}})) == ["b high uid", "b runAsUser 2000"]
    assert messages(e, pod({"name": "c", "securityContext": {"runAsUser": 0}})) == []


def test_not_all_and_or() -> None:
    e = engine(
        """
RULE none_privileged ON Pod WHEN NOT (ANY container c: c.securityContext.privileged)
  THEN AUDIT("no privileged container")
RULE all_pinned ON Pod WHEN ALL container c: c.image CONTAINS "@sha256:" THEN WARN("all pinned")
RULE either ON Pod WHEN labels["a"] == "1" OR labels["b"] == "2" THEN DENY("a or b")
"""
    )
    assert messages(e, pod({"name": "x", "image": "i@sha256:1"})) == ["all pinned", "no privileged container"]
    privileged = pod({"name": "x", "image": "i", "securityContext": {"privileged": True}}, labels={"b": "2"})
    assert messages(e, privileged) == ["a or b"]
    assert messages(e, pod(labels={"a": "1", "b": "2"})) == ["a or b", "all pinned", "no privileged container"]
    result = e.review(pod({"name": "x", "image": "i@sha256:1"}))
    assert {v.policy: v.enforcement for v in result.violations} == {"none_privileged": "dryrun", "all_pinned": "warn"}
    assert result.allowed


def test_quantities_compare_in_base_units() -> None:
    e = engine(
        """
RULE big ON Pod WHEN ANY container c: c.resources.limits.memory > 2Gi OR c.resources.limits.cpu >= 1500m
  THEN DENY("{c.name} is big")
"""
    )
    small = {"name": "small", "resources": {"limits": {"memory": "2048Mi", "cpu": "1"}}}
    big_mem = {"name": "mem", "resources": {"limits": {"memory": "3G", "cpu": "250m"}}}
    big_cpu = {"name": "cpu", "resources": {"limits": {"memory": "1Gi", "cpu": 2}}}
    assert messages(e, pod(small, big_mem, big_cpu)) == ["cpu is big", "mem is big"]


def test_parameters_default_and_override() -> None:
    source = """
PARAM registries: list[string] = ["registry.bank.internal/"]
PARAM max_replicas: int = 3
RULE registry ON Pod WHEN ANY container c: NOT (ANY r IN registries: c.image STARTS WITH r) THEN DENY("{c.image}")
RULE replicas ON Deployment WHEN spec.replicas > max_replicas THEN DENY("too many: {spec.replicas} > {max_replicas}")
"""
    e = engine(source)
    assert messages(
        e, pod({"name": "a", "image": "docker.io/x"}, {"name": "b", "image": "registry.bank.internal/y"})
    ) == ["docker.io/x"]
    assert messages(e, deployment(replicas=5)) == ["too many: 5 > 3"]
    overridden = engine(
        source, parameters={"registry": {"registries": ["docker.io/"]}, "replicas": {"max_replicas": 10}}
    )
    assert messages(overridden, pod({"name": "a", "image": "docker.io/x"})) == []
    assert messages(overridden, deployment(replicas=5)) == []
    bad = Engine(objects=[DslFile("t.kgr", source)], builtin=False, parameters={"replicas": {"max_replicas": "ten"}})
    (error,) = bad.errors
    assert "max_replicas" in error.message, error


def test_roots_operation_user_namespace_and_old_object() -> None:
    e = engine(
        """
RULE owner_kept ON Deployment WHEN operation == "UPDATE" AND old.metadata.labels["owner"] != metadata.labels["owner"]
  THEN DENY("owner changed from {old.metadata.labels[\\"owner\\"]} by {user}")
RULE prod_admins ON Pod IN NAMESPACES ("prod-*") WHEN "admins" NOT IN groups
  THEN DENY("{name} in {namespace} needs an admin")
"""
    )
    old = {**deployment(), "metadata": {"name": "d", "namespace": "shop", "labels": {"owner": "a"}}}
    new = {**deployment(), "metadata": {"name": "d", "namespace": "shop", "labels": {"owner": "b"}}}
    user = {"username": "mallory", "groups": ["devs"]}
    assert messages(e, new, operation="UPDATE", old_object=old, user_info=user) == ["owner changed from a by mallory"]
    assert messages(e, new, operation="CREATE", user_info=user) == []
    prod = {**pod(), "metadata": {"name": "p", "namespace": "prod-eu"}}
    assert messages(e, prod, user_info=user) == ["p in prod-eu needs an admin"]
    assert messages(e, prod, user_info={"username": "root", "groups": ["admins"]}) == []
    assert messages(e, pod(), user_info=user) == []  # namespace shop is not selected


def test_functions_and_interpolation() -> None:
    e = engine(
        """
PARAM uid: int = 7
RULE f ON Pod WHEN len(pod.containers) >= 2 AND ANY container c: lower(c.name) == "web" AND number(c.env[0].value) >= 4
  THEN WARN("{c.name} of {len(pod.containers)}: {{literal}} {coalesce(c.securityContext.runAsUser, uid, 0)}")
"""
    )
    obj = pod({"name": "WEB", "env": [{"name": "N", "value": "4"}]}, {"name": "side"})
    assert messages(e, obj) == ["WEB of 2: {literal} 7"]


def test_namespace_object_from_the_inventory() -> None:
    e = engine(
        """
RULE zone ON Pod WHEN namespaceObject.metadata.labels["zone"] MISSING THEN DENY("namespace {namespace} has no zone")
"""
    )
    assert messages(e, pod()) == ["namespace shop has no zone"]
    e.set_inventory([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"zone": "eu"}}}])
    assert messages(e, pod()) == []


def test_custom_resources_with_their_crd() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "databases.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Database", "plural": "databases"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": {"type": "object", "properties": {"backups": {"type": "boolean"}}}},
                        }
                    },
                }
            ],
        },
    }
    rule = DslFile("db.kgr", 'RULE backups ON Database WHEN NOT spec.backups THEN DENY("{name} has no backups")\n')
    e = Engine(objects=[crd, rule], builtin=False)
    assert not e.errors
    db = {
        "apiVersion": "example.com/v1",
        "kind": "Database",
        "metadata": {"name": "ledger", "namespace": "shop"},
        "spec": {},
    }
    assert messages(e, db) == ["ledger has no backups"]
    assert messages(e, {**db, "spec": {"backups": True}}) == []
    # Without the CRD the kind is unknown: a located error, not a silent skip.
    (error,) = Engine(objects=[rule], builtin=False).errors
    assert error.code == "dsl_unknown_kind" and str(error.location) == "db.kgr:1:17"
