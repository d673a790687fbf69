"""Fuzzing `kubegate serve` over real HTTPS with seeded hostile AdmissionReviews.

Invariants, for every case (tests/webhook/fuzzing.py):

* the answer is HTTP 200 with an AdmissionReview echoing the uid, or a 4xx
  with a JSON ``{"code", "message"}``; never a 500, never a dropped
  connection, and the keep-alive connection keeps working;
* every 200 answer has a decision record in the file sink (strict mode);
* differential: every *allowed* answer is re-decided in-process by
  ``Engine.review`` of the same AdmissionReview with the same policies, and
  the engine allows it too (a webhook allow the SDK would deny is a wrong
  allow from the decision path).

The server runs with ``--failure-mode allow``, where a wrong path admits.
``KUBEGATE_FUZZ_EXAMPLES`` raises the number of cases (``make fuzz``; the
100,000-request run is ``benchmarks/fuzz.py``).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubegate import Engine
from kubegate.engine.inputs import build_review
from kubegate.errors import InputError
from kubegate.webhook.admission import AdmissionError, parse_admission_review
from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import POLICIES, Webhook, read_jsonl, start_allowing_logged_webhook
from tests.webhook.fuzzing import fuzz_cases

CASES = int(os.environ.get("KUBEGATE_FUZZ_EXAMPLES", "1200"))


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory, certs: CertificateFiles) -> Iterator[tuple[Webhook, Path]]:
    hook, sink = start_allowing_logged_webhook(tmp_path_factory.mktemp("fuzz"), certs, "--decision-log-fsync", "never")
    yield hook, sink
    hook.stop()


def _expected_4xx(body: bytes) -> str | None:
    """The error code the parser gives ``body``, or ``None`` if it is an AdmissionReview to answer."""
    try:
        parsed = parse_admission_review(body)
        if parsed.input_error is None:
            build_review(parsed.request, shape="admission_request", max_depth=None)
    except AdmissionError as exc:
        return exc.code
    except InputError as exc:
        return exc.code
    return None


def test_fuzzed_requests_are_answered_recorded_and_agree_with_the_sdk(fuzzed: tuple[Webhook, Path]) -> None:
    hook, sink = fuzzed
    engine = Engine([str(POLICIES / "main")])
    outcomes: Counter[str] = Counter()
    answered: dict[str, dict[str, Any]] = {}
    problems: list[str] = []
    with hook.client(timeout=30) as client:
        for n, case in enumerate(fuzz_cases(seed=20261201, count=CASES)):
            try:
                reply = client.post("/validate", content=case.body, headers={"content-type": "application/json"})
            except httpx.HTTPError as exc:  # a dropped connection is a finding
                problems.append(f"case {n} {case.mutations}: {type(exc).__name__}: {exc}")
                continue
            if reply.status_code == 200:
                response = reply.json()["response"]
                outcomes["allowed" if response["allowed"] else "denied"] += 1
                answered[response["uid"]] = {"response": response, "body": case.body, "mutations": case.mutations}
            elif reply.status_code in (400, 413):
                error = reply.json()
                assert set(error) == {"code", "message"}, error
                assert error["code"] == _expected_4xx(case.body) or reply.status_code == 413, (case.mutations, error)
                outcomes[error["code"]] += 1
            else:
                problems.append(f"case {n} {case.mutations}: HTTP {reply.status_code}: {reply.text[:200]}")
    assert not problems, "\n".join(problems[:20])
    assert outcomes["allowed"] > 50 and outcomes["denied"] > 50, outcomes  # the fuzz reaches both answers

    # every answer has its record (uids repeat only when a mutation set them)
    deadline = time.monotonic() + 30
    while True:
        recorded = {r["kubegate"]["uid"] for r in read_jsonl(sink)}
        missing = set(answered) - recorded
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert not missing, f"{len(missing)} answers without a record, e.g. {sorted(missing)[:5]}"

    # differential: what the webhook allowed, the SDK allows (answers of the failure mode,
    # a time limit passed, are the configured behaviour and not re-decided)
    disagreements = []
    for uid, seen in answered.items():
        response = seen["response"]
        if not response["allowed"] or any("failure mode allow" in w for w in response.get("warnings", [])):
            continue
        parsed = parse_admission_review(seen["body"])
        document = {"apiVersion": parsed.api_version, "kind": "AdmissionReview", "request": dict(parsed.request)}
        try:
            result = engine.review(document)
        except InputError as exc:
            disagreements.append(f"{uid} {seen['mutations']}: webhook allowed, SDK refused: {exc.code}")
            continue
        # Under --failure-mode allow a policy (or an expansion) that could not be
        # evaluated is a warning; the SDK fails closed on the same failures.
        unevaluated = {w.split("]", 1)[0][1:] for w in response.get("warnings", []) if "could not be evaluated" in w}
        if {d.policy for d in result.errors} != unevaluated:
            disagreements.append(
                f"{uid} {seen['mutations']}: webhook could not evaluate {unevaluated}, SDK {result.errors}"
            )
        denied = [d.policy for d in result.decisions if not d.allowed and d.error is None]
        if denied:
            disagreements.append(f"{uid} {seen['mutations']}: webhook allowed, SDK denied by {denied}")
    assert not disagreements, "\n".join(disagreements[:20])
    print(dict(outcomes))
