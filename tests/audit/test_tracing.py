"""OpenTelemetry spans from the SDK (Engine(tracing=...)) and for admission requests,
captured with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from kubegate import Engine, UsageError
from kubegate.audit.tracing import Tracing

POLICY = """# METADATA
# custom:
#   id: team-label
package tracing.team

import rego.v1

deny contains "a team label is required" if {
	not input.review.object.metadata.labels.team
}
"""

POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"}, "spec": {"containers": []}}


@pytest.fixture
def traced(tmp_path: Path) -> tuple[Engine, InMemorySpanExporter, Tracing]:
    (tmp_path / "team.rego").write_text(POLICY)
    exporter = InMemorySpanExporter()
    tracing = Tracing(span_exporter=exporter)
    return Engine([str(tmp_path)], builtin=False, tracing=tracing), exporter, tracing


def test_a_review_is_a_span_with_one_child_per_policy(traced: tuple[Engine, InMemorySpanExporter, Tracing]) -> None:
    engine, exporter, tracing = traced
    result = engine.review(POD)
    engine.close()
    tracing.shutdown()
    spans = {s.name: s for s in exporter.get_finished_spans()}
    review, policy = spans["kubegate.review"], spans["kubegate.policy"]
    assert policy.parent is not None and review.context is not None
    assert policy.parent.span_id == review.context.span_id
    assert review.attributes is not None and policy.attributes is not None
    assert review.attributes["kubegate.allowed"] is False
    assert review.attributes["kubegate.policy_set_version"] == result.policy_set_version
    assert review.attributes["k8s.name"] == "p" and review.attributes["k8s.namespace"] == "shop"
    assert policy.attributes["kubegate.policy.id"] == "team-label"
    assert policy.attributes["kubegate.policy.version"] == result.decisions[0].version
    assert policy.attributes["kubegate.violations"] == 1
    assert review.start_time is not None and policy.start_time is not None and policy.end_time is not None
    assert review.end_time is not None
    assert review.start_time <= policy.start_time <= policy.end_time <= review.end_time


def test_evaluate_is_one_policy_span(traced: tuple[Engine, InMemorySpanExporter, Tracing]) -> None:
    engine, exporter, _ = traced
    pod = {**POD, "metadata": {"name": "q", "labels": {"team": "a"}}}
    decision = engine.evaluate("team-label", {"review": {"object": pod}})
    engine.close()
    [span] = exporter.get_finished_spans()
    assert span.name == "kubegate.policy" and span.attributes is not None
    assert span.attributes["kubegate.allowed"] is decision.allowed is True
    assert span.attributes["k8s.name"] == "q"


def test_admission_span_continues_the_callers_trace(traced: tuple[Engine, InMemorySpanExporter, Tracing]) -> None:
    engine, exporter, tracing = traced
    review = {"uid": "u-1", "kind": {"kind": "Pod"}, "operation": "CREATE", "object": POD}
    result = engine.review({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": review})
    exporter.clear()
    start = min(d.started_ns for d in result.decisions) - 1_000_000
    tracing.admission_span(
        review,
        start_ns=start,
        end_ns=start + 50_000_000,
        decision="deny",
        cache="miss",
        reason="",
        result=result,
        headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
    )
    spans = {s.name: s for s in exporter.get_finished_spans()}
    admission = spans["kubegate.admission"]
    assert admission.kind == SpanKind.SERVER and admission.parent is not None and admission.context is not None
    assert f"{admission.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert f"{admission.parent.span_id:016x}" == "b7ad6b7169203331"
    assert spans["kubegate.review"].parent is not None
    assert spans["kubegate.review"].parent.span_id == admission.context.span_id
    assert admission.attributes is not None and admission.attributes["k8s.request.uid"] == "u-1"
    engine.close()


def test_a_cache_hit_has_no_review_span(traced: tuple[Engine, InMemorySpanExporter, Tracing]) -> None:
    engine, exporter, tracing = traced
    tracing.admission_span(
        {"uid": "u-2"}, start_ns=1, end_ns=2, decision="allow", cache="memory", reason="", result=None
    )
    [span] = exporter.get_finished_spans()
    assert span.name == "kubegate.admission" and span.parent is None
    assert span.attributes is not None and span.attributes["kubegate.cache"] == "memory"
    assert span.status.status_code == StatusCode.UNSET
    engine.close()


def test_console_exporter_writes_json(tmp_path: Path) -> None:
    """In a subprocess: the console exporter writes to the real stdout."""
    (tmp_path / "team.rego").write_text(POLICY)
    script = (
        "import sys\n"
        "from kubegate import Engine\n"
        "from kubegate.audit.tracing import Tracing\n"
        "tracing = Tracing('console')\n"
        f"engine = Engine([{str(tmp_path)!r}], builtin=False, tracing=tracing)\n"
        f"engine.review({POD!r})\n"
        "engine.close()\n"
        "tracing.shutdown()\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    decoder = json.JSONDecoder()
    names, at = [], 0
    while at < len(out.rstrip()):
        span, at = decoder.raw_decode(out, at)
        names.append(span["name"])
        while at < len(out) and out[at].isspace():
            at += 1
    assert sorted(names) == ["kubegate.policy", "kubegate.review"]


def test_unknown_exporter_is_refused() -> None:
    with pytest.raises(UsageError) as raised:
        Tracing("none")
    assert raised.value.code == "invalid_trace_exporter"
    assert "'none'" in raised.value.message
