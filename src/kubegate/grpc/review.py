"""The ``kubegate.v1.Decisions`` service: Review, Evaluate and ReviewStream (proto/kubegate/v1/review.proto).

Deadlines: each call is decided by the event loop's time ``now +
min(time the client's deadline leaves, --max-evaluation-time)``; past it the
call ends ``DEADLINE_EXCEEDED`` (the evaluation itself is stopped by the
pool, :mod:`kubegate.webhook.pool`). Errors become statuses through
:mod:`kubegate.grpc.status`; on ``ReviewStream`` an item that cannot be
reviewed gets an answer with ``error_code``/``error_message`` and the stream
goes on.

Flow control on ``ReviewStream``: at most ``window`` items of a stream are
being decided at once; the next request message is read only when there is
room, so a fast sender is held back by HTTP/2 flow control instead of
queueing in the server, and answers leave in the order of the requests.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import grpc
from google.protobuf import duration_pb2

from kubegate.audit.record import DecisionFacts
from kubegate.errors import KubegateError
from kubegate.grpc.decide import Answer, Decider
from kubegate.grpc.protos import review_pb2, review_pb2_grpc
from kubegate.grpc.status import status_for
from kubegate.grpc.values import read_input, to_struct

__all__ = ["DecisionsServicer", "answer_message"]


def _duration(seconds: float) -> Any:
    d = duration_pb2.Duration()
    d.FromNanoseconds(int(seconds * 1e9))
    return d


def _violations(items: Any) -> list[Any]:
    return [
        review_pb2.Violation(
            policy=str(v.get("policy", "")),
            message=str(v.get("message", "")),
            details=to_struct(v.get("details") if isinstance(v.get("details"), dict) else None),
            enforcement_action=str(v.get("enforcement", "")),
        )
        for v in items
    ]


#: Answers' violation and policy parts kept serialised, per facts (cache hits share
#: their evaluation's facts: a hit is then answered without building them again).
_PARTS_KEPT = 1024


class _Parts:
    """``ReviewResponse`` violations and policies, serialised once per :class:`DecisionFacts`."""

    def __init__(self, capacity: int = _PARTS_KEPT) -> None:
        self.capacity = capacity
        self._kept: OrderedDict[int, tuple[DecisionFacts, bytes]] = OrderedDict()

    def get(self, facts: DecisionFacts) -> bytes:
        found = self._kept.get(id(facts))
        if found is not None and found[0] is facts:
            self._kept.move_to_end(id(facts))
            return found[1]
        message = review_pb2.ReviewResponse(
            violations=_violations(facts.violations),
            policies=[
                review_pb2.PolicyResult(
                    id=str(p.get("id", "")),
                    version=str(p.get("version", "")),
                    allowed=bool(p.get("allowed", True)),
                    duration_ms=float(p.get("durationMs", 0.0)),
                    error=str(p.get("error") or ""),
                )
                for p in facts.policies
            ],
        )
        data: bytes = message.SerializeToString()
        self._kept[id(facts)] = (facts, data)
        if len(self._kept) > self.capacity:
            self._kept.popitem(last=False)
        return data


_PARTS = _Parts()


def answer_message(answer: Answer, request_id: str = "") -> Any:
    """The ``ReviewResponse`` for ``answer``."""
    verdict = answer.verdict
    message = review_pb2.ReviewResponse.FromString(_PARTS.get(answer.facts))
    message.allowed = verdict.allowed
    message.policy_set_version = answer.version
    message.duration.CopyFrom(_duration(answer.duration_s))
    message.decision_id = answer.decision_id
    message.message = verdict.message
    message.warnings.extend(verdict.warnings)
    message.reason = verdict.reason
    message.cache = answer.cache
    message.request_id = request_id
    return message


class DecisionsServicer(review_pb2_grpc.DecisionsServicer):  # type: ignore[misc]
    """Serves :class:`Decider` decisions.

    Args:
        decider: the decision path.
        max_input_bytes: largest JSON input, in bytes (the server's receive
            limit bounds a whole message before this).
        window: evaluations in flight per ``ReviewStream`` (>= 1).
    """

    def __init__(self, decider: Decider, max_input_bytes: int, window: int = 8) -> None:
        self.decider = decider
        self.max_input_bytes = max_input_bytes
        self.window = max(1, window)

    def _deadline(self, context: Any) -> float:
        limit = self.decider.service.settings.max_evaluation_time_ms / 1000
        remaining = context.time_remaining()
        if remaining is not None:
            limit = min(limit, max(remaining, 0.0))
        return asyncio.get_running_loop().time() + limit

    async def _review(self, request: Any, deadline: float) -> Answer:
        obj = read_input(request, max_bytes=self.max_input_bytes)
        return await self.decider.review(
            obj, policy_ids=tuple(request.policy_ids), operation=request.operation, deadline=deadline, checked=True
        )

    async def Review(self, request: Any, context: Any) -> Any:
        answer = await self._review(request, self._deadline(context))
        return answer_message(answer, request.request_id)

    async def Evaluate(self, request: Any, context: Any) -> Any:
        value = read_input(request, max_bytes=self.max_input_bytes)
        decision = await self.decider.evaluate(request.policy_id, value, deadline=self._deadline(context))
        return review_pb2.EvaluateResponse(
            allowed=decision.allowed,
            violations=_violations(
                {"policy": v.policy, "message": v.message, "details": v.details, "enforcement": v.enforcement}
                for v in decision.violations
            ),
            policy_version=decision.version,
            policy_set_version=decision.policy_set_version,
            duration=_duration(decision.duration_ms / 1000),
            error=decision.error or "",
        )

    async def _item(self, request: Any, context: Any) -> Any:
        try:
            answer = await self._review(request, self._deadline(context))
        except KubegateError as exc:
            code, message = status_for(exc)
            return review_pb2.ReviewResponse(request_id=request.request_id, error_code=code.name, error_message=message)
        return answer_message(answer, request.request_id)

    async def ReviewStream(self, request_iterator: Any, context: Any) -> AsyncIterator[Any]:
        pending: asyncio.Queue[asyncio.Task[Any] | None] = asyncio.Queue(maxsize=self.window)
        failure: list[BaseException] = []

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await pending.put(asyncio.create_task(self._item(request, context)))
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the client's stream broke: end ours with the reason
                failure.append(exc)
            await pending.put(None)

        reader = asyncio.create_task(read())
        try:
            while True:
                task = await pending.get()
                if task is None:
                    break
                yield await task
            if failure:
                await context.abort(grpc.StatusCode.CANCELLED, f"request stream failed: {failure[0]}")
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
            while not pending.empty():
                left = pending.get_nowait()
                if left is not None:
                    left.cancel()
