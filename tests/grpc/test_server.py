"""The gate as a whole: not ready until a policy set is active (policies from a real etcd),
activations pushed through etcd reach watchers, decision-log filters, and the gate beside
another gate's decision path (``GrpcCompanion``, for ``kubegate serve --grpc-port``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import grpc
import pytest

from kubegate.engine.backends import make_backend
from kubegate.grpc.client import AsyncClient, position_of
from kubegate.grpc.server import GrpcCompanion, GrpcConfig
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.etcd import EtcdStore
from kubegate.lifecycle.manager import PolicyManager
from kubegate.webhook.admission import parse_admission_review
from kubegate.webhook.certs import CertificateFiles
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.server import ServeConfig
from kubegate.webhook.service import AdmissionService, WebhookSettings
from tests.conftest import EtcdServer
from tests.grpc.conftest import RULE, Gate, deployment, next_event, pod


def _health(gate: Gate, timeout_s: float = 60.0) -> str:
    """The health status once the server answers."""
    deadline = time.monotonic() + timeout_s
    with gate.client() as client:
        while time.monotonic() < deadline:
            with contextlib.suppress(grpc.RpcError):
                return client.health(timeout=1)
            time.sleep(0.1)
    pytest.fail(f"no health answer:\n{gate.log()}")


def test_not_serving_until_a_policy_set_is_active_then_follows_etcd(
    tmp_path: Path, certs: CertificateFiles, etcd_server: EtcdServer
) -> None:
    store = EtcdStore(etcd_server.url, "/grpc-test/")
    store.push({"a.rego": RULE.format(n=1)}, {}, "first")
    etcd_server.kill()  # the gate starts with its policy source down
    gate = Gate(tmp_path, certs, ("--no-builtin", "--etcd", etcd_server.url, "--etcd-prefix", "/grpc-test/"))
    try:
        gate.start(wait=False)
        assert _health(gate) == "NOT_SERVING"
        with gate.client() as client:
            waiting = client.review(pod())
            assert not waiting.allowed and waiting.reason == "not_ready"  # the failure mode: deny
            with pytest.raises(grpc.RpcError) as unavailable:
                client.evaluate("grpctests.watch1", {})
            assert unavailable.value.code() == grpc.StatusCode.UNAVAILABLE
            watch = client.watch("etcd-watcher", timeout=90)
            assert not next_event(watch, "snapshot").ready

            etcd_server.start()
            first = next_event(watch, "activation", 60)
            assert first.changed == ["grpctests.watch1"] and first.origin.startswith("etcd")
            gate.wait_serving(10)
            store.push({"a.rego": RULE.format(n=1), "b.rego": RULE.format(n=2)}, {}, "second")
            second = next_event(watch, "activation")
            assert second.changed == ["grpctests.watch2"] and second.sequence == first.sequence + 1
            assert [v.message for v in client.review(pod()).violations] == [
                "team label missing (1)",
                "team label missing (2)",
            ]
            watch.close()
    finally:
        gate.stop()


def test_decision_log_filters(gate: Gate) -> None:
    other = deployment(name="filtered-elsewhere", owner=None)
    other["metadata"]["namespace"] = "elsewhere"
    with gate.client() as client:
        skipped = {
            client.review(deployment(name="filtered-allowed", owner="shop-team")).decision_id,
            client.review(other).decision_id,
        }
        wanted = client.review(deployment(name="filtered-denied", owner=None)).decision_id
        watch = client.watch("filtered", policy_updates=False, decision_log=True, decision="deny", namespaces=["shop"])
        received: list[dict[str, object]] = []
        deadline = time.monotonic() + 20
        for event in watch:
            position = position_of(event)
            if position is None:
                continue
            record = json.loads(event.decision.record_json)
            received.append(record)
            watch.ack(position)
            if record["decision_id"] == wanted or time.monotonic() > deadline:
                break
        watch.close()
    assert received and received[-1]["decision_id"] == wanted
    for record in received:
        assert record["result"]["allowed"] is False  # type: ignore[index]
        assert record["kubegate"]["namespace"] == "shop"  # type: ignore[index]
        assert record["decision_id"] not in skipped


def test_a_resume_position_no_longer_kept_is_refused(gate: Gate) -> None:
    with gate.client() as client:
        watch = client.watch("gone", policy_updates=False, decision_log=True, after=(0, 0), timeout=10)
        with pytest.raises(grpc.RpcError) as refused:
            next(watch)
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert refused.value.details().startswith("log_position_gone:")


def test_companion_serves_the_webhooks_decision_path() -> None:
    companion = GrpcCompanion(GrpcConfig(serve=ServeConfig(insecure_http=True), host="127.0.0.1", port=0))
    manager = PolicyManager(PolicySetBuilder(make_backend("compiled"), builtin=False), on_update=companion.updated)
    service = AdmissionService(WebhookSettings(workers=1), WebhookMetrics(), manager)

    async def scenario() -> dict[str, Any]:
        stop = asyncio.Event()
        bound: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        serving = asyncio.create_task(companion(service, stop, bound.set_result))
        port = await asyncio.wait_for(bound, 30)
        out: dict[str, Any] = {}
        async with AsyncClient(f"127.0.0.1:{port}") as client:
            out["before"] = await client.health()
            watch = client.watch("companion", timeout=30)
            events = aiter(watch)
            out["snapshot"] = (await anext(events)).snapshot
            await asyncio.to_thread(manager.apply, {"a.rego": RULE.format(n=1)}, "test")
            out["activation"] = (await anext(events)).activation
            out["after"] = await client.health()
            out["grpc"] = await client.review(pod())
            await watch.close()
        admission = parse_admission_review(
            b'{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {"uid": "u", '
            b'"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE", '
            b'"object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"}}}}'
        )
        out["webhook"] = await service.decide(admission)
        stop.set()
        await serving
        await service.close()
        return out

    out = asyncio.run(scenario())
    assert out["before"] == "NOT_SERVING" and not out["snapshot"].ready
    assert out["activation"].changed == ["grpctests.watch1"] and out["after"] == "SERVING"
    assert [v.message for v in out["grpc"].violations] == ["team label missing (1)"]
    assert out["grpc"].policy_set_version == out["activation"].policy_set_version
    assert not out["webhook"].allowed and "team label missing (1)" in out["webhook"].message
