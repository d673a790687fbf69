"""The webhook end to end: a real `kubegate serve` over HTTPS on loopback, a real client."""

from __future__ import annotations

import json

import httpx

from tests.webhook.conftest import Webhook, admission_review, metric_value, obj


def log_entry(hook: Webhook, uid: str) -> dict:  # type: ignore[type-arg]
    for line in reversed(hook.logs()):
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("uid") == uid:
                return entry  # type: ignore[no-any-return]
    raise AssertionError(f"no request log line for {uid}")


def test_pod_create_allowed_and_denied(webhook: Webhook) -> None:
    good = webhook.review(admission_review(obj("pod-good")))
    assert good["allowed"] is True and "status" not in good and "warnings" not in good
    bad = webhook.review(admission_review(obj("pod-no-owner")))
    assert bad["allowed"] is False
    assert bad["status"]["code"] == 403
    assert bad["status"]["message"] == (
        '[K8sTestRequiredLabels/workloads-need-owner] Pod api-1 is missing labels {"owner"}'
    )


def test_deployment_and_cronjob_reach_the_builtin_library(webhook: Webhook) -> None:
    deployment = webhook.review(admission_review(obj("deployment-no-limits")))
    assert deployment["allowed"] is False
    assert '[pod-must-have-resource-limits] container "web" has no resources.limits' in deployment["status"]["message"]
    cronjob = webhook.review(admission_review(obj("cronjob-init-without-limits")))
    assert cronjob["allowed"] is False
    assert 'initContainer "fetch"' in cronjob["status"]["message"]
    assert webhook.review(admission_review(obj("deployment-good")))["allowed"] is True


def test_warn_becomes_a_warning_and_dryrun_is_recorded_not_enforced(webhook: Webhook) -> None:
    doc = admission_review(obj("pod-no-cost-center-no-tier"))
    response = webhook.review(doc)
    assert response["allowed"] is True
    assert response["warnings"] == [
        '[K8sTestRequiredLabels/workloads-should-have-cost-center] Pod api-2 is missing labels {"cost-center"}'
    ]
    entry = log_entry(webhook, doc["request"]["uid"])
    assert entry["dryrunViolations"] == ["K8sTestRequiredLabels/workloads-will-need-tier"]
    assert entry["decision"] == "allow" and entry["warnings"] == 1
    text = webhook.metrics()
    labels = 'enforcement="dryrun",policy="K8sTestRequiredLabels/workloads-will-need-tier"'
    assert metric_value(text, "kubegate_violations_total", labels) >= 1


def test_update_sees_the_old_object(webhook: Webhook) -> None:
    old, new = obj("deployment-good"), obj("deployment-new-owner")
    changed = webhook.review(admission_review(new, operation="UPDATE", old=old))
    assert changed["allowed"] is False
    assert (
        changed["status"]["message"] == "[protected-objects-stay] owner label may not change (was team-a, now team-b)"
    )
    same = webhook.review(admission_review(obj("deployment-good"), operation="UPDATE", old=old))
    assert same["allowed"] is True


def test_delete_reviews_the_old_object(webhook: Webhook) -> None:
    protected = obj("configmap-protected")
    denied = webhook.review(admission_review(None, operation="DELETE", old=protected))
    assert denied["allowed"] is False
    assert "ConfigMap ledger-config is protected" in denied["status"]["message"]
    plain = obj("configmap-protected")
    plain["metadata"]["labels"] = {}
    assert webhook.review(admission_review(None, operation="DELETE", old=plain))["allowed"] is True


def test_connect_exec_options(webhook: Webhook) -> None:
    exec_kind = {"group": "", "version": "v1", "kind": "PodExecOptions"}
    denied = webhook.review(
        admission_review(obj("exec-options"), operation="CONNECT", kind=exec_kind, namespace="payments")
    )
    assert denied["allowed"] is False
    assert denied["status"]["message"] == "[protected-objects-stay] exec into payments pods is not allowed"
    allowed = webhook.review(
        admission_review(obj("exec-options"), operation="CONNECT", kind=exec_kind, namespace="shop")
    )
    assert allowed["allowed"] is True


def test_dry_run_requests_are_decided_like_real_ones(webhook: Webhook) -> None:
    doc = admission_review(obj("pod-no-owner"), dry_run=True)
    response = webhook.review(doc)
    assert response["allowed"] is False and "workloads-need-owner" in response["status"]["message"]
    assert log_entry(webhook, doc["request"]["uid"])["dryRun"] is True


def test_v1beta1_is_answered_in_v1beta1(webhook: Webhook) -> None:
    doc = admission_review(obj("pod-no-owner"), api_version="admission.k8s.io/v1beta1")
    response = webhook.review(doc)  # asserts the apiVersion of the answer
    assert response["allowed"] is False


def test_deny_list_rejects_before_any_policy(webhook: Webhook) -> None:
    doc = admission_review(obj("pod-blocked-image"))
    response = webhook.review(doc)
    assert response["allowed"] is False
    assert response["status"]["message"] == (
        "[deny-list:incident-4711] images from evil.example are blocked during incident 4711"
    )
    entry = log_entry(webhook, doc["request"]["uid"])
    assert entry["reason"] == "fast_reject" and entry["cache"] == ""
    quarantined = obj("pod-good")
    quarantined["metadata"]["namespace"] = "quarantine-7"
    assert "freeze-quarantine" in webhook.review(admission_review(quarantined))["status"]["message"]
    assert metric_value(webhook.metrics(), "kubegate_fast_rejects_total", 'rule="incident-4711"') >= 1


def test_identical_requests_hit_the_decision_cache(webhook: Webhook) -> None:
    pod = obj("pod-good")
    pod["metadata"]["name"] = "cached-pod"
    first, second = admission_review(pod), admission_review(pod)
    assert first["request"]["uid"] != second["request"]["uid"]
    before = metric_value(webhook.metrics(), "kubegate_decision_cache_hits_total", 'tier="memory"')
    assert webhook.review(first)["allowed"] is True
    assert webhook.review(second)["allowed"] is True
    assert log_entry(webhook, first["request"]["uid"])["cache"] == "miss"
    assert log_entry(webhook, second["request"]["uid"])["cache"] == "memory"
    text = webhook.metrics()
    assert metric_value(text, "kubegate_decision_cache_hits_total", 'tier="memory"') == before + 1
    assert 0 < metric_value(text, "kubegate_decision_cache_hit_ratio") < 1
    # A different user is a different request: policies may read userInfo.
    other_user = admission_review(pod, user="mallory@example.com")
    webhook.review(other_user)
    assert log_entry(webhook, other_user["request"]["uid"])["cache"] == "miss"


def test_bad_requests_get_clear_4xx_and_the_server_keeps_serving(webhook: Webhook) -> None:
    with webhook.client() as c:
        cases = [
            (c.post("/validate", content=b"x" * (3 * 1024 * 1024 + 1)), 413, "request_too_large"),
            (c.post("/validate", content=b"{not json"), 400, "admission_review_not_json"),
            (c.post("/validate", json=[1, 2]), 400, "admission_review_invalid"),
            (c.post("/validate", json={"kind": "Pod", "apiVersion": "v1"}), 400, "admission_review_invalid"),
            (
                c.post("/validate", json={**admission_review(obj("pod-good")), "apiVersion": "admission.k8s.io/v2"}),
                400,
                "admission_version_unsupported",
            ),
        ]
        no_uid = admission_review(obj("pod-good"))
        del no_uid["request"]["uid"]
        cases.append((c.post("/validate", json=no_uid), 400, "admission_uid_missing"))
        bad_object = admission_review(obj("pod-good"))
        bad_object["request"]["object"] = "not an object"
        cases.append((c.post("/validate", json=bad_object), 400, "invalid_admission_request"))
        nothing = admission_review(None)
        cases.append((c.post("/validate", json=nothing), 400, "invalid_admission_request"))
        for reply, status, code in cases:
            assert reply.status_code == status, reply.text
            assert reply.headers["content-type"] == "application/json"
            body = reply.json()
            assert body["code"] == code and body["message"]
            assert "Traceback" not in reply.text
        assert c.get("/validate").status_code == 405
    assert webhook.review(admission_review(obj("pod-good")))["allowed"] is True
    text = webhook.metrics()
    assert metric_value(text, "kubegate_admission_bad_requests_total", 'code="request_too_large"') >= 1
    assert "Traceback" not in webhook.log.read_text()


def test_health_readiness_and_metric_names(webhook: Webhook) -> None:
    with webhook.client() as c:
        health = c.get("/healthz").json()
        # No --workers: one evaluation thread for the compiled backend, which holds the GIL.
        assert health["status"] == "ok" and health["workers"] == 1
        ready = c.get("/readyz").json()
        assert ready["ready"] is True and ready["policies"] >= 9 and ready["loadErrors"] == 0
        text = c.get("/metrics").text
    for name in (
        "kubegate_admission_requests_total",
        "kubegate_admission_duration_seconds_bucket",
        "kubegate_policy_evaluation_duration_seconds_bucket",
        "kubegate_admission_timeouts_total",
        "kubegate_decision_cache_hits_total",
        "kubegate_policies_loaded",
        "kubegate_serving_certificate_expiry_timestamp_seconds",
    ):
        assert name in text, name
    assert metric_value(text, "kubegate_admission_requests_total", 'decision="deny",kind="Pod",operation="CREATE"') >= 1


def test_request_log_is_one_json_line_per_request(webhook: Webhook) -> None:
    doc = admission_review(obj("pod-no-owner"))
    webhook.review(doc)
    entry = log_entry(webhook, doc["request"]["uid"])
    assert entry["logger"] == "kubegate.webhook.requests"
    assert entry["kind"] == "Pod" and entry["namespace"] == "shop" and entry["objectName"] == "api-1"
    assert entry["operation"] == "CREATE" and entry["decision"] == "deny"
    assert entry["deniedBy"] == ["K8sTestRequiredLabels/workloads-need-owner"]
    assert entry["durationMs"] > 0 and len(entry["policySetVersion"]) == 64
    assert all(line.startswith("{") for line in webhook.logs() if line.strip()), "every log line is JSON"


def test_plain_http_is_refused_on_the_https_port(webhook: Webhook) -> None:
    with httpx.Client(timeout=5) as c:
        try:
            reply = c.get(webhook.url.replace("https://", "http://") + "/healthz")
        except httpx.HTTPError:
            return
        assert reply.status_code >= 400


def test_heap_is_settled_after_updates_go_quiet_not_while_they_apply() -> None:
    """A burst of policy-set updates gets one full collection + freeze, after it
    (run inside the applying thread, the collection delayed every activation)."""
    import gc
    import time

    from kubegate.webhook.server import HeapSettler

    gc.unfreeze()
    settler = HeapSettler(delay_s=0.3)
    try:
        for _ in range(3):
            settler.request()
            time.sleep(0.1)
        assert gc.get_freeze_count() == 0  # still within the burst
        # After the burst, the settler's full collection runs; on a heap the whole
        # suite has grown it can take seconds on a loaded machine before the freeze.
        deadline = time.monotonic() + 15
        while gc.get_freeze_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
