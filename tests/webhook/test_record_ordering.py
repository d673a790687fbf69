"""When the decision record is on disk relative to the answer (``fsync=always``): with
``fail_closed`` before the answer, with ``block`` and ``drop_oldest`` written before it
and fsynced once it is on its way. The decision path runs in process on a real policy
manager, evaluator and write-ahead log; an fsync is held back by holding the log's own
fsync lock, so what waits for it shows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from kubegate.audit.logger import DecisionLogger, LogSettings
from kubegate.audit.manifest import is_manifest
from kubegate.audit.wal import LogReader
from kubegate.engine.backends import DEFAULT_BACKEND, make_backend
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.manager import PolicyManager
from kubegate.webhook.admission import parse_admission_review
from kubegate.webhook.metrics import WebhookMetrics
from kubegate.webhook.service import AdmissionService, WebhookSettings
from tests.webhook.conftest import admission_review

POLICY = """package ordering

import rego.v1

deny contains "team x is refused" if input.review.object.metadata.labels.team == "x"
"""


def _pod(name: str) -> dict[str, Any]:
    meta = {"name": name, "namespace": "shop", "labels": {"team": "x"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": {"containers": [{"name": "c", "image": "i"}]}}


def _service(tmp_path: Path, full_policy: str) -> tuple[AdmissionService, DecisionLogger]:
    manager = PolicyManager(PolicySetBuilder(make_backend(DEFAULT_BACKEND), builtin=False))
    assert manager.apply({"ordering.rego": POLICY}, "test").result == "applied"
    log = DecisionLogger(
        LogSettings(str(tmp_path / "wal"), mode="strict", fsync="always", full_policy=full_policy)  # type: ignore[arg-type]
    )
    settings = WebhookSettings(workers=1, max_evaluation_time_ms=10_000.0, cache_ttl_s=0)
    return AdmissionService(settings, WebhookMetrics(), manager, decision_log=log), log


def _decisions(directory: Path) -> list[dict[str, Any]]:
    return [r for r in (json.loads(p) for p in LogReader(directory).records()) if not is_manifest(r)]


@pytest.mark.parametrize("full_policy", ["block", "drop_oldest"])
def test_the_answer_does_not_wait_for_the_fsync_but_the_record_is_written_first(
    tmp_path: Path, full_policy: str
) -> None:
    service, log = _service(tmp_path, full_policy)

    async def scenario() -> None:
        request = parse_admission_review(json.dumps(admission_review(_pod("web"))).encode())
        with log.wal._sync_lock:  # every fsync waits while the test holds it
            verdict = await asyncio.wait_for(service.decide(request), 30)
            assert verdict.allowed is False
            # Answered, and the record is already in the file (a killed process loses nothing) ...
            [record] = _decisions(tmp_path / "wal")
            assert record["kubegate"]["uid"] == request.uid
            # ... but not fsynced yet: the fsync is waiting for the lock.
            assert log.wal._synced < log.wal._written
        for _ in range(3000):  # released: the background fsync catches up
            if log.wal._synced >= log.wal._written:
                break
            await asyncio.sleep(0.01)
        assert log.wal._synced >= log.wal._written
        await service.close()

    asyncio.run(scenario())


def test_fail_closed_answers_only_once_the_record_is_fsynced(tmp_path: Path) -> None:
    service, log = _service(tmp_path, "fail_closed")

    async def scenario() -> None:
        request = parse_admission_review(json.dumps(admission_review(_pod("web"))).encode())
        log.wal._sync_lock.acquire()
        try:
            answer = asyncio.ensure_future(service.decide(request))
            await asyncio.sleep(0.5)
            assert not answer.done()  # held back by the fsync
        finally:
            log.wal._sync_lock.release()
        verdict = await asyncio.wait_for(answer, 30)
        assert verdict.allowed is False
        assert log.wal._synced >= log.wal._written
        await service.close()

    asyncio.run(scenario())
