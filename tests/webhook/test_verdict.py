"""From review results to answers, and the failure modes."""

from __future__ import annotations

from kubegate.audit.record import DecisionFacts, facts_from_result
from kubegate.engine.decision import Decision, ReviewResult, SkippedPolicy, Violation
from kubegate.webhook.admission import response_annotations
from kubegate.webhook.verdict import Verdict, failure_verdict, verdict_from_result


def decision(policy: str, *violations: tuple[str, str], error: str | None = None) -> Decision:
    vs = tuple(Violation(policy, msg, {}, action) for msg, action in violations)
    allowed = error is None and all(a != "deny" for _, a in violations)
    return Decision(policy, "v", allowed, vs, 1.0, "set", error)


def result(*decisions: Decision, skipped: tuple[SkippedPolicy, ...] = ()) -> ReviewResult:
    allowed = all(d.allowed for d in decisions)
    return ReviewResult(allowed, decisions, skipped, 2.0, "set")


def test_deny_warn_and_dryrun() -> None:
    v = verdict_from_result(
        result(
            decision("a", ("no a", "deny"), ("also no", "deny")),
            decision("b", ("careful", "warn")),
            decision("c", ("later", "dryrun")),
        ),
        "deny",
    )
    assert not v.allowed and v.code == 403 and v.reason == ""
    assert v.message == "[a] no a\n[a] also no"
    assert v.denied_by == ("a",) and v.warnings == ("[b] careful",) and v.dryrun == ("c",)
    assert v.cacheable


def test_errors_follow_the_failure_mode_and_are_not_cached() -> None:
    failed = result(decision("ok"), decision("broken", error="eval_error: boom"))
    deny = verdict_from_result(failed, "deny")
    assert not deny.allowed and deny.code == 500 and deny.reason == "evaluation_error"
    assert deny.message == "[broken] could not be evaluated: eval_error: boom"
    assert not deny.cacheable
    allow = verdict_from_result(failed, "allow")
    assert allow.allowed and allow.warnings == ("[broken] could not be evaluated: eval_error: boom",)
    assert not allow.cacheable
    # A real denial next to an error keeps the 403.
    both = verdict_from_result(result(decision("a", ("no", "deny")), decision("broken", error="x")), "deny")
    assert both.code == 403 and both.denied_by == ("a", "broken")


def test_skipped_policies_are_warned_about() -> None:
    v = verdict_from_result(
        result(skipped=(SkippedPolicy("ns-rule", "Namespace prod is not in the inventory"),)), "deny"
    )
    assert v.allowed and v.warnings == ("[ns-rule] not applied: Namespace prod is not in the inventory",)


def test_failure_verdicts() -> None:
    deny = failure_verdict("timeout", "too slow", "deny")
    assert (deny.allowed, deny.code, deny.message, deny.reason, deny.cacheable) == (
        False,
        500,
        "kubegate: too slow",
        "timeout",
        False,
    )
    allow = failure_verdict("queue_full", "busy", "allow")
    assert allow.allowed and allow.warnings == ("kubegate: busy (admitted: failure mode allow)",)


def test_audit_annotations_reach_the_verdict_and_survive_the_cache_form() -> None:
    annotated = Decision("p", "v", True, (), 1.0, "set", annotations=(("vap.example/key", "value"),))
    verdict = verdict_from_result(result(annotated, decision("q")), "deny")
    assert verdict.audit_annotations == {"vap.example/key": "value"}
    assert Verdict.from_dict(verdict.to_dict()).audit_annotations == {"vap.example/key": "value"}
    facts = facts_from_result(result(annotated))
    assert DecisionFacts.from_dict(facts.to_dict()) == facts
    assert facts.audit_annotations == {"vap.example/key": "value"}


def test_response_annotations_are_names_the_api_server_accepts() -> None:
    got = response_annotations(
        {
            "vap.example/key": "a",
            "validation.policy.admission.k8s.io/validation_failure": "[]",
            "x/" + "k" * 70: "too long",
            "-bad/key": "starts badly",
        }
    )
    assert got == {"vap.example_key": "a", "validation.policy.admission.k8s.io_validation_failure": "[]"}
