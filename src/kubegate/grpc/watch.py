"""``kubegate.v1.Policies/WatchPolicyStream``: policy activations and decision-log entries, acknowledged.

One bidirectional stream per client (proto/kubegate/v1/watch.proto):

1. the client sends ``Subscribe`` (its name, what it wants, filters, and
   optionally the log position to resume after);
2. the server sends a ``Snapshot`` of the policy set in force, then each
   activation as the :class:`~kubegate.lifecycle.manager.PolicyManager`
   applies it (its ``on_update`` callback feeds :class:`ActivationHub`: the
   same events for directories and etcd), and, when asked, every
   decision-log record read from the write-ahead log after the resume
   position, oldest first, each with the position just past it;
3. the client sends ``Ack`` with the position of the last record it has
   processed; the server saves it as the checkpoint ``grpc-<client>`` of the
   log (:meth:`~kubegate.audit.wal.WriteAheadLog.save_checkpoint`, as
   shippers do), so the log keeps what the client has not acknowledged and
   a reconnecting client that sends no position resumes from there.

A client that resumes after the position of the last record it processed
gets every later record exactly once, across server restarts (kill -9
included: a record is in the log before its decision is answered).

Backpressure: events wait in a per-stream buffer of ``buffer`` events.
Decision records are read from the log only when there is room (the log is
the buffer); an activation that finds the buffer full, or a write the client
has not taken within ``slow_after_s`` seconds, ends the stream with
``RESOURCE_EXHAUSTED`` and a message saying which, never unbounded memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable
from typing import Any

import grpc

from kubegate.audit.wal import Position
from kubegate.grpc.decide import Decider
from kubegate.grpc.metrics import GrpcMetrics
from kubegate.grpc.protos import watch_pb2, watch_pb2_grpc
from kubegate.lifecycle.manager import ApplyOutcome
from kubegate.lifecycle.snapshot import Snapshot

__all__ = ["ActivationHub", "PoliciesServicer", "checkpoint_name"]

_log = logging.getLogger("kubegate.grpc")
_CLIENT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
_POLL_S = 0.02


def checkpoint_name(client: str) -> str:
    """The log checkpoint a client's acknowledgements are saved under."""
    return f"grpc-{client}"


def _policies(snapshot: Snapshot) -> list[Any]:
    out = []
    for policy in snapshot.latest.policies:
        rollout = snapshot.rollouts.get(policy.id)
        stable = snapshot.stable.get(policy.id) if rollout is not None else None
        old = stable.policy(policy.id) if stable is not None else None
        out.append(
            watch_pb2.PolicyInfo(
                id=policy.id,
                version=policy.version,
                rollout=rollout.describe() if rollout is not None else "stable",
                stable_version=old.version if old is not None else "",
            )
        )
    return out


class ActivationHub:
    """Fans activations out to the open streams; :meth:`updated` is the manager's ``on_update``.

    Args:
        loop: the server's event loop (activations arrive on other threads); ``None``:
            the loop :func:`kubegate.grpc.server.serve_grpc` runs in, once it runs
            (activations before then reach no stream and are dropped).
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.loop = loop
        self._subscribers: set[Callable[[Any], None]] = set()
        self._previous: dict[str, str] = {}

    def subscribe(self, deliver: Callable[[Any], None]) -> Callable[[], None]:
        """Registers ``deliver`` (called on the loop with each ``Activation``); returns the unsubscriber."""
        self._subscribers.add(deliver)
        return lambda: self._subscribers.discard(deliver)

    def prime(self, snapshot: Snapshot | None) -> None:
        """Remembers the policies in force (for the first activation's ``changed``/``removed``)."""
        if snapshot is not None:
            self._previous = {p.id: p.version for p in snapshot.latest.policies}

    def updated(self, outcome: ApplyOutcome) -> None:
        """Called by the manager after every update (any thread)."""
        snapshot = outcome.snapshot
        if outcome.result not in ("applied", "partial") or snapshot is None:
            return
        now = {p.id: p.version for p in snapshot.latest.policies}
        changed = sorted(pid for pid, version in now.items() if self._previous.get(pid) != version)
        removed = sorted(pid for pid in self._previous if pid not in now)
        self._previous = now
        event = watch_pb2.WatchEvent(
            activation=watch_pb2.Activation(
                result=outcome.result,
                policy_set_version=snapshot.version,
                sequence=snapshot.sequence,
                origin=snapshot.origin,
                policies=_policies(snapshot),
                changed=changed,
                removed=removed,
                activated_at=snapshot.created_at,
                errors=[str(e).splitlines()[0] for e in outcome.errors],
            )
        )
        if self.loop is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is closed: the server is stopping
            self.loop.call_soon_threadsafe(self._deliver, event)

    def _deliver(self, event: Any) -> None:
        for deliver in list(self._subscribers):
            deliver(event)


class _SlowConsumer(Exception):
    pass


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _matches(record: dict[str, Any], sub: Any) -> bool:
    kubegate = _object(record.get("kubegate"))
    if sub.namespaces and kubegate.get("namespace", "") not in sub.namespaces:
        return False
    result = _object(record.get("result"))
    if sub.decision:
        allowed = bool(result.get("allowed"))
        if (sub.decision == "allow") != allowed:
            return False
    if sub.policy_ids:
        evaluated = {str(p.get("id")) for p in kubegate.get("policies") or () if isinstance(p, dict)}
        violated = {str(v.get("policy")) for v in result.get("violations") or () if isinstance(v, dict)}
        if not (evaluated | violated) & set(sub.policy_ids):
            return False
    return True


class PoliciesServicer(watch_pb2_grpc.PoliciesServicer):  # type: ignore[misc]
    """Serves ``WatchPolicyStream`` (see the module docstring).

    Args:
        decider: gives the manager (snapshots) and the decision log.
        hub: the activations.
        metrics: counts open streams and slow consumers.
        buffer: events buffered per stream (>= 1).
        slow_after_s: longest wait for the client to take one event, in seconds.
    """

    def __init__(
        self, decider: Decider, hub: ActivationHub, metrics: GrpcMetrics, buffer: int = 256, slow_after_s: float = 10.0
    ) -> None:
        self.decider = decider
        self.hub = hub
        self.metrics = metrics
        self.buffer = max(1, buffer)
        self.slow_after_s = slow_after_s

    def _snapshot_event(self) -> Any:
        snapshot = self.decider.snapshot
        if snapshot is None:
            return watch_pb2.WatchEvent(snapshot=watch_pb2.Snapshot(ready=False))
        return watch_pb2.WatchEvent(
            snapshot=watch_pb2.Snapshot(
                policy_set_version=snapshot.version,
                sequence=snapshot.sequence,
                origin=snapshot.origin,
                policies=_policies(snapshot),
                ready=True,
            )
        )

    async def WatchPolicyStream(self, request_iterator: Any, context: Any) -> None:
        first: Any = await anext(aiter(request_iterator), None)
        if first is None or first.WhichOneof("kind") != "subscribe":
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, "watch_protocol: the first message must be a Subscribe"
            )
        sub = first.subscribe
        if not _CLIENT.match(sub.client):
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "watch_protocol: `client` must be 1-63 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit",
            )
        if sub.decision not in ("", "allow", "deny"):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "watch_protocol: `decision` is allow, deny or empty")
        logger = self.decider.service.decision_log
        if sub.decision_log and logger is None:
            await context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "decision_log_off: this server keeps no decision log"
            )
        events: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.buffer)
        overflow: list[str] = []
        woken = asyncio.Event()

        def deliver(event: Any) -> None:
            try:
                events.put_nowait(event)
            except asyncio.QueueFull:
                overflow.append(f"an activation found the buffer of {self.buffer} events full")
                woken.set()

        unsubscribe = self.hub.subscribe(deliver) if sub.policy_updates else None
        tasks = [asyncio.create_task(self._acks(request_iterator, sub.client, context))]
        if sub.decision_log and logger is not None:
            after = None
            if sub.HasField("after"):
                after = Position(int(sub.after.segment), int(sub.after.offset))
                oldest = logger.wal.oldest()
                if after < oldest:
                    await context.abort(
                        grpc.StatusCode.OUT_OF_RANGE,
                        f"log_position_gone: the records after segment {after.segment} offset {after.offset} "
                        f"are no longer kept (the oldest kept starts at segment {oldest.segment})",
                    )
            else:
                after = logger.wal.checkpoint(checkpoint_name(sub.client))
            if after is None:  # register the reader now: the log keeps what it has not acknowledged
                oldest = logger.wal.oldest()
                await asyncio.to_thread(logger.wal.save_checkpoint, checkpoint_name(sub.client), oldest)
            tasks.append(asyncio.create_task(self._tail(after, sub, events)))
        self.metrics.watchers.inc()
        try:
            await self._write(context, self._snapshot_event())
            while True:
                getter = asyncio.ensure_future(events.get())
                waker = asyncio.ensure_future(woken.wait())
                done, _ = await asyncio.wait({getter, waker, *tasks}, return_when=asyncio.FIRST_COMPLETED)
                waker.cancel()
                if getter not in done:
                    getter.cancel()
                if overflow:
                    raise _SlowConsumer(overflow[0])
                for task in tasks:
                    if task in done:
                        task.result()  # an ack stream that ended or failed ends the watch
                        return
                if getter in done:
                    await self._write(context, getter.result())
        except _SlowConsumer as exc:
            self.metrics.slow_consumers.inc()
            _log.warning("watch stream of %s ended: slow consumer: %s", sub.client, exc)
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, f"slow_consumer: {exc}")
        finally:
            self.metrics.watchers.dec()
            if unsubscribe is not None:
                unsubscribe()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _write(self, context: Any, event: Any) -> None:
        try:
            await asyncio.wait_for(context.write(event), self.slow_after_s)
        except TimeoutError:
            raise _SlowConsumer(f"the client did not take an event within {self.slow_after_s:g} s") from None
        self.metrics.stream_items.labels("/kubegate.v1.Policies/WatchPolicyStream").inc()

    async def _acks(self, request_iterator: Any, client: str, context: Any) -> None:
        """Saves each acknowledged position; returns when the client closes its side."""
        logger = self.decider.service.decision_log
        async for request in request_iterator:
            if request.WhichOneof("kind") != "ack":
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "watch_protocol: only Acks follow a Subscribe")
            if logger is None:
                continue
            position = Position(int(request.ack.position.segment), int(request.ack.position.offset))
            await asyncio.to_thread(logger.wal.save_checkpoint, checkpoint_name(client), position)

    async def _tail(self, after: Position | None, sub: Any, events: asyncio.Queue[Any]) -> None:
        """Reads records after ``after`` into ``events`` as room allows, then follows the log."""
        logger = self.decider.service.decision_log
        assert logger is not None
        wal = logger.wal
        position = after
        while True:
            room = events.maxsize - events.qsize()
            if room <= 0:
                await asyncio.sleep(_POLL_S)
                continue
            records = await asyncio.to_thread(wal.read, position, min(room, 256))
            if not records:
                await asyncio.sleep(_POLL_S)
                continue
            for end, payload in records:
                position = end
                try:
                    record = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(record, dict) or not _matches(record, sub):
                    continue
                entry = watch_pb2.DecisionEntry(
                    position=watch_pb2.LogPosition(segment=end.segment, offset=end.offset), record_json=payload
                )
                await events.put(watch_pb2.WatchEvent(decision=entry))
