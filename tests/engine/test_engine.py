"""The SDK: Engine loading, evaluate, review, inventory swaps, threads, errors."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from kubegate import Engine, ErrorList, InputError, RegoFile, ReviewResult, UsageError
from tests.engine.conftest import deployment

PROD = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod", "labels": {"env": "prod"}}}


def test_review_combines_constraints_rego_and_builtins(policy_dir: Path) -> None:
    engine = Engine([str(policy_dir)], inventory=[PROD])
    assert not engine.errors
    result = engine.review(deployment())
    by_policy = {v.policy: v for v in result.violations}
    assert by_policy["K8sReplicaLimit/at-most-three"].message == "5 replicas is more than 3"
    assert by_policy["main"].message == "Deployment web must run as non-root"
    assert by_policy["prod-needs-team"].enforcement == "deny"
    assert "pod-must-have-resource-limits" in by_policy
    assert not result.allowed
    assert {d.policy for d in result.decisions} >= {"K8sReplicaLimit/at-most-three", "main", "prod-needs-team"}
    assert result.policy_set_version == engine.version


def test_match_excludes_and_undecided_is_reported(policy_dir: Path) -> None:
    engine = Engine([str(policy_dir)], builtin=False)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "prod"}, "spec": {}}
    result = engine.review(pod)
    assert [d.policy for d in result.decisions] == ["main"]
    assert [s.policy for s in result.skipped] == ["prod-needs-team"]
    assert "not in the inventory" in result.skipped[0].reason


def test_evaluate_one_policy(policy_dir: Path) -> None:
    engine = Engine([str(policy_dir)], builtin=False)
    decision = engine.evaluate("K8sReplicaLimit/at-most-three", {"review": {"object": deployment(replicas=9)}})
    assert not decision.allowed
    assert [v.message for v in decision.violations] == ["9 replicas is more than 3"]
    assert len(decision.version) == 64 and decision.duration_ms > 0
    assert decision.to_dict()["violations"][0]["enforcement"] == "deny"
    ok = engine.evaluate("K8sReplicaLimit/at-most-three", {"review": {"object": deployment(replicas=1)}})
    assert ok.allowed and ok.violations == ()


def test_evaluate_unknown_policy(policy_dir: Path) -> None:
    with pytest.raises(UsageError) as info:
        Engine([str(policy_dir)], builtin=False).evaluate("nope", {})
    assert info.value.code == "unknown_policy"


def test_review_admission_review_and_request_forms(policy_dir: Path) -> None:
    engine = Engine([str(policy_dir)], builtin=False)
    request = {"uid": "1", "operation": "CREATE", "object": deployment(replicas=4), "userInfo": {"username": "u"}}
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}
    for form in (review, request):
        result = engine.review(form)
        assert "4 replicas is more than 3" in [v.message for v in result.violations]
    with pytest.raises(InputError):
        engine.review({"uid": "1", "operation": "DELETE", "object": deployment()})


def test_broken_policy_is_reported_and_the_rest_still_works(policy_dir: Path) -> None:
    (policy_dir / "broken.rego").write_text("package broken\n\ndeny[m] {\n  m := undefined_helper(1)\n}\n")
    engine = Engine([str(policy_dir)], builtin=False)
    (error,) = engine.errors
    assert error.code == "rego_type_error"
    assert error.location is not None and error.location.file.endswith("broken.rego") and error.location.line == 4
    assert "main" in [p.id for p in engine.policies]
    with pytest.raises(ErrorList):
        Engine([str(policy_dir)], builtin=False, strict=True)


def test_in_memory_rego_and_inventory_swap() -> None:
    unique = RegoFile(
        "unique.rego",
        "package unique\nimport rego.v1\ndeny contains msg if {\n"
        "  some name, _ in data.inventory.cluster.v1.Namespace\n"
        '  name == input.review.object.metadata.name\n  msg := sprintf("namespace %v exists", [name])\n}\n',
    )
    engine = Engine(objects=[unique], builtin=False)
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "prod"}}
    before = engine.version
    assert engine.review(ns).allowed
    engine.set_inventory([ns])
    assert engine.version != before
    assert [v.message for v in engine.review(ns).violations] == ["namespace prod exists"]


def test_concurrent_reviews_during_inventory_swaps(policy_dir: Path) -> None:
    engine = Engine([str(policy_dir)], builtin=False)
    failures: list[BaseException] = []
    stop = threading.Event()

    def reviewer() -> None:
        try:
            while not stop.is_set():
                msgs = [v.message for v in engine.review(deployment(replicas=7)).violations]
                assert "7 replicas is more than 3" in msgs
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=reviewer) for _ in range(3)]
    for t in threads:
        t.start()
    for i in range(5):
        engine.set_inventory([{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"ns{i}"}}])
    stop.set()
    for t in threads:
        t.join()
    assert not failures


def test_a_policy_failing_at_run_time_is_isolated_and_fails_closed() -> None:
    # Two values for one complete rule: an eval_conflict_error at run time.
    failing = RegoFile(
        "f.rego",
        "package fails\nimport rego.v1\nlevel := 1 if input.review.object\nlevel := 2 if input.review.object\n"
        'deny contains "x" if level\n',
    )
    fine = RegoFile("g.rego", 'package fine\nimport rego.v1\nwarn contains "looked" if input.review.object\n')
    engine = Engine(objects=[failing, fine], builtin=False)
    result = engine.review({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})
    (failed,) = result.errors
    assert failed.policy == "fails" and failed.error and not failed.allowed
    assert [v.message for v in result.violations] == ["looked"]
    assert not result.allowed


def test_builtins_known_to_diverge_are_warned_about() -> None:
    module = RegoFile(
        "v.rego", 'package versions\nimport rego.v1\n\ndeny contains "old" if semver.compare(input.v, "1.2.0") < 0\n'
    )
    engine = Engine(objects=[module], builtin=False, backend="regopy")
    (warning,) = engine.warnings
    assert warning.code == "backend_divergence" and "semver.compare" in warning.message
    assert warning.location is not None and warning.location.line == 4


def test_parallel_review_gives_the_same_result(policy_dir: Path) -> None:
    sequential = Engine([str(policy_dir)], inventory=[PROD])
    parallel = Engine([str(policy_dir)], inventory=[PROD], parallelism=2)
    try:
        for replicas in (1, 5, 9):
            a = sequential.review(deployment(replicas=replicas))
            b = parallel.review(deployment(replicas=replicas))
            assert [v.to_dict() for v in a.violations] == [v.to_dict() for v in b.violations]
            assert [d.policy for d in a.decisions] == [d.policy for d in b.decisions]
    finally:
        parallel.close()
    with pytest.raises(UsageError):
        Engine(builtin=False, parallelism=0)


def test_lifted_calls_see_each_constraints_parameters() -> None:
    # ``above(..., input.parameters.max)`` is lifted into a complete rule; each
    # constraint's ``with input.parameters`` must still give its own answer.
    from tests.policy.conftest import CONSTRAINT, TEMPLATE

    loose = {
        **CONSTRAINT,
        "metadata": {"name": "at-most-eight"},
        "spec": {**CONSTRAINT["spec"], "parameters": {"max": 8}},
    }
    engine = Engine(objects=[TEMPLATE, CONSTRAINT, loose], builtin=False)
    assert "__kgcall" in "".join(m.printed.text for m in engine.prepared.catalog.modules)
    messages = sorted(v.message for v in engine.review(deployment(replicas=5)).violations)
    assert messages == ["5 replicas is more than 3"]
    messages = sorted(v.message for v in engine.review(deployment(replicas=9)).violations)
    assert messages == ["9 replicas is more than 3", "9 replicas is more than 8"]


def test_regex_flags_the_backend_cannot_see_are_warned_about() -> None:
    module = RegoFile(
        "r.rego",
        "package r\nimport rego.v1\npattern := `(?i)^latest$`\n"
        'deny contains "tag" if regex.match(pattern, input.review.object.tag)\n'
        'deny contains "literal" if regex.match(`(?i)^latest$`, input.review.object.tag)\n',
    )
    engine = Engine(objects=[module], builtin=False, backend="regopy")
    (warning,) = engine.warnings
    assert warning.code == "backend_divergence" and "(?i)^latest$" in warning.message
    assert warning.location is not None and warning.location.line == 3
    # The literal pattern argument is rewritten and works.
    result = engine.review({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "tag": "LATEST"})
    assert [v.message for v in result.violations] == ["literal"]


def test_regex_flags_in_parameters_are_warned_about() -> None:
    from tests.policy.conftest import CONSTRAINT, TEMPLATE

    flagged = {**CONSTRAINT, "spec": {**CONSTRAINT["spec"], "parameters": {"max": 3, "note": "(?i)prod"}}}
    engine = Engine(objects=[TEMPLATE, flagged], builtin=False, backend="regopy")
    (warning,) = engine.warnings
    assert "parameters.note" in warning.message and warning.code == "backend_divergence"


def test_regex_flags_in_parameters_are_not_warned_about_on_the_compiled_backend() -> None:
    from tests.policy.conftest import CONSTRAINT, TEMPLATE

    flagged = {**CONSTRAINT, "spec": {**CONSTRAINT["spec"], "parameters": {"max": 3, "note": "(?i)prod"}}}
    engine = Engine(objects=[TEMPLATE, flagged], builtin=False, backend="compiled")
    assert engine.warnings == ()  # Go regex flags are the compiled backend's own syntax


# ---- hostile inputs (issue: request/object confusion, inputs the backend cannot hold)


def test_review_refuses_an_ambiguous_argument_instead_of_reviewing_the_request_as_an_object() -> None:
    engine = Engine(builtin=True)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p", "namespace": "shop"},
        "spec": {"containers": [{"name": "c", "image": "nginx:latest", "securityContext": {"privileged": True}}]},
    }
    request = {
        "uid": "u-1",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "operation": "CREATE",
        "object": pod,
    }
    denied = engine.review(request)
    assert not denied.allowed
    assert not engine.review({**request, "apiVersion": "v1"}).allowed  # GVK kind: still the request
    with pytest.raises(InputError) as info:
        engine.review({**request, "apiVersion": "v1", "kind": "Pod"})
    assert info.value.code == "ambiguous_review_input"


@pytest.mark.parametrize(
    ("value", "code"),
    [("api-\ud800", "invalid_unicode"), (10**400, "number_out_of_range")],
)
def test_review_of_values_the_backend_cannot_hold_is_a_clear_input_error(value: object, code: str) -> None:
    engine = Engine(builtin=True, backend="regopy")  # rego-cpp: UTF-8 strings, 64-bit integers
    with pytest.raises(InputError) as info:
        engine.review(_pod_working_in(value))
    assert info.value.code == code


@pytest.mark.parametrize("value", ["api-\ud800", 10**400, -(10**400)])
def test_the_compiled_backend_reviews_those_values_like_any_other(value: object) -> None:
    engine = Engine(builtin=True, backend="compiled")

    def outcome(result: ReviewResult) -> list[tuple[str, bool, str | None, tuple[str, ...]]]:
        return [(d.policy, d.allowed, d.error, tuple(v.message for v in d.violations)) for d in result.decisions]

    result = engine.review(_pod_working_in(value))
    assert result.decisions and all(d.error is None for d in result.decisions)
    assert outcome(result) == outcome(engine.review(_pod_working_in("/srv")))


def _pod_working_in(value: object) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "nginx", "workingDir": value}]},
    }


def test_input_mutated_between_reviews_is_seen_afresh() -> None:
    """Input objects are hashed once per review (kubegate.evaluator.values.hash_scope);
    a caller changing the same object between reviews gets answers for the new content."""
    dup = RegoFile(
        "dup.rego",
        "package dup\nimport rego.v1\n"
        "spec := input.review.object.spec\n"
        "distinct := {c | some c in spec.containers}\n"
        'deny contains msg if {\n  count(distinct) < count(spec.containers)\n  msg := "duplicate containers"\n}\n',
    )
    engine = Engine(objects=[dup], builtin=False)
    container = {"name": "a", "image": "x"}
    spec = {"containers": [container, dict(container)]}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec}
    assert [v.message for v in engine.review(pod).violations] == ["duplicate containers"]
    container["name"] = "b"  # the same object, changed in place
    assert engine.review(pod).allowed


def test_hash_forms_are_remembered_only_within_a_scope() -> None:
    from kubegate.evaluator.values import end_hash_scope, hash_scope, hkey

    value: dict[str, Any] = {"a": [1, {"b": True}]}
    hash_scope()
    try:
        first = hkey(value)
        assert hkey(value) is first  # remembered by identity
    finally:
        end_hash_scope()
    value["a"] = 2
    assert hkey(value) != first
    assert hkey(value) == hkey({"a": 2})
