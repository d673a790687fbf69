"""``kubegate.grpc.Client`` and ``AsyncClient``: the reference client of the gRPC gate.

Both speak the three services (``kubegate.v1.Decisions``,
``kubegate.v1.Policies``, Envoy's ``Authorization``) and health checking,
over TLS (``ca_file``: the CA that signed the server's certificate;
``cert_file``/``key_file``: a client certificate for mutual TLS) or, without
``ca_file``, plaintext. Objects are sent as JSON bytes. Calls raise
``grpc.RpcError`` (sync) or ``grpc.aio.AioRpcError`` (async) with the
server's status; ``timeout`` is the call's deadline in seconds.

A :class:`Watch` follows ``WatchPolicyStream``: iterate it for events and
call :meth:`Watch.ack` with each decision entry's position once processed;
:attr:`Watch.last_acked` is what to pass as ``after`` when reconnecting, so
no entry is lost or repeated.
"""

from __future__ import annotations

import json
import queue
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from grpc import aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from kubegate.grpc.protos import (
    external_auth_pb2,
    external_auth_pb2_grpc,
    review_pb2,
    review_pb2_grpc,
    watch_pb2,
    watch_pb2_grpc,
)

__all__ = ["AsyncClient", "AsyncWatch", "Client", "Watch", "position_of"]

_Options = Sequence[tuple[str, Any]]


def _credentials(ca_file: str | None, cert_file: str | None, key_file: str | None) -> Any:
    if ca_file is None:
        return None
    chain = Path(cert_file).read_bytes() if cert_file else None
    key = Path(key_file).read_bytes() if key_file else None
    return grpc.ssl_channel_credentials(Path(ca_file).read_bytes(), key, chain)


def _review_request(obj: Mapping[str, Any] | bytes, policy_ids: Sequence[str], operation: str, request_id: str) -> Any:
    raw = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return review_pb2.ReviewRequest(json=raw, policy_ids=list(policy_ids), operation=operation, request_id=request_id)


def _evaluate_request(policy_id: str, value: Any) -> Any:
    return review_pb2.EvaluateRequest(policy_id=policy_id, json=json.dumps(value).encode())


def _check_request(request: Any) -> Any:
    if isinstance(request, Mapping):
        return json_format.ParseDict(request, external_auth_pb2.CheckRequest())
    return request


def _subscribe(
    client: str,
    policy_updates: bool,
    decision_log: bool,
    after: tuple[int, int] | None,
    policy_ids: Sequence[str],
    namespaces: Sequence[str],
    decision: str,
) -> Any:
    sub = watch_pb2.Subscribe(
        client=client,
        policy_updates=policy_updates,
        decision_log=decision_log,
        policy_ids=list(policy_ids),
        namespaces=list(namespaces),
        decision=decision,
    )
    if after is not None:
        sub.after.CopyFrom(watch_pb2.LogPosition(segment=after[0], offset=after[1]))
    return watch_pb2.WatchRequest(subscribe=sub)


def _ack(position: tuple[int, int]) -> Any:
    return watch_pb2.WatchRequest(
        ack=watch_pb2.Ack(position=watch_pb2.LogPosition(segment=position[0], offset=position[1]))
    )


def position_of(event: Any) -> tuple[int, int] | None:
    """The ``(segment, offset)`` of a decision entry event, else ``None``."""
    if event.WhichOneof("kind") != "decision":
        return None
    p = event.decision.position
    return int(p.segment), int(p.offset)


class Watch:
    """A ``WatchPolicyStream`` call (sync): iterate for ``WatchEvent`` messages.

    Attributes:
        last_acked: the last position passed to :meth:`ack` (``None`` before any).
    """

    def __init__(self, stub: Any, first: Any, timeout: float | None) -> None:
        self._requests: queue.Queue[Any] = queue.Queue()
        self._requests.put(first)
        self.last_acked: tuple[int, int] | None = None
        self._call = stub.WatchPolicyStream(iter(self._requests.get, None), timeout=timeout)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._call)

    def __next__(self) -> Any:
        return next(self._call)

    def ack(self, position: tuple[int, int]) -> None:
        """Acknowledges every decision entry up to ``position`` (the server saves it)."""
        self.last_acked = position
        self._requests.put(_ack(position))

    def close(self) -> None:
        """Ends the client's side and waits for the server to end the call: every
        acknowledgement sent is saved by then. Events still arriving are dropped."""
        self._requests.put(None)
        try:
            for _ in self._call:
                pass
        except grpc.RpcError:
            pass
        self._call.cancel()


def _open(
    module: Any,
    target: str,
    ca_file: str | None,
    cert_file: str | None,
    key_file: str | None,
    server_name: str | None,
    options: _Options,
) -> Any:
    """A channel from ``module`` (``grpc`` or ``grpc.aio``): TLS when ``ca_file`` is given."""
    creds = _credentials(ca_file, cert_file, key_file)
    opts = list(options)
    if server_name:
        opts.append(("grpc.ssl_target_name_override", server_name))
    return module.secure_channel(target, creds, opts) if creds else module.insecure_channel(target, opts)


class _Stubs:
    """The channel and the service stubs both clients hold."""

    def _bind(self, channel: Any) -> None:
        self.channel = channel
        self.decisions = review_pb2_grpc.DecisionsStub(channel)
        self.policies = watch_pb2_grpc.PoliciesStub(channel)
        self.authorization = external_auth_pb2_grpc.AuthorizationStub(channel)
        self.health_stub = health_pb2_grpc.HealthStub(channel)


class Client(_Stubs):
    """A blocking client (see the module docstring).

    Args:
        target: ``host:port``.
        ca_file: CA bundle to verify the server (``None``: plaintext).
        cert_file, key_file: client certificate and key for mutual TLS.
        server_name: the name to verify in the server's certificate (default: the host of ``target``).
        options: extra channel options (``("grpc.max_receive_message_length", n)``...).
    """

    def __init__(
        self,
        target: str,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        server_name: str | None = None,
        options: _Options = (),
    ) -> None:
        self._bind(_open(grpc, target, ca_file, cert_file, key_file, server_name, options))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        self.channel.close()

    def review(
        self,
        obj: Mapping[str, Any] | bytes,
        *,
        policy_ids: Sequence[str] = (),
        operation: str = "",
        timeout: float | None = None,
    ) -> Any:
        """``Review`` of an object, AdmissionRequest or AdmissionReview (a mapping, or JSON bytes as is)."""
        return self.decisions.Review(_review_request(obj, policy_ids, operation, ""), timeout=timeout)

    def evaluate(self, policy_id: str, value: Any, *, timeout: float | None = None) -> Any:
        """``Evaluate`` of one policy on ``value`` (its ``input``)."""
        return self.decisions.Evaluate(_evaluate_request(policy_id, value), timeout=timeout)

    def review_stream(
        self, objs: Iterable[Mapping[str, Any] | bytes], *, timeout: float | None = None
    ) -> Iterator[Any]:
        """``ReviewStream``: answers in the order of ``objs`` (``request_id`` is the index)."""
        requests = (_review_request(o, (), "", str(i)) for i, o in enumerate(objs))
        return iter(self.decisions.ReviewStream(requests, timeout=timeout))

    def check(self, request: Any, *, timeout: float | None = None) -> Any:
        """Envoy ``Check`` (a ``CheckRequest``, or its JSON mapping)."""
        return self.authorization.Check(_check_request(request), timeout=timeout)

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """The health status name (``SERVING``, ``NOT_SERVING``...) of ``service``."""
        answer = self.health_stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))

    def watch(
        self,
        client: str,
        *,
        policy_updates: bool = True,
        decision_log: bool = False,
        after: tuple[int, int] | None = None,
        policy_ids: Sequence[str] = (),
        namespaces: Sequence[str] = (),
        decision: str = "",
        timeout: float | None = None,
    ) -> Watch:
        """Opens ``WatchPolicyStream`` (see :class:`Watch`)."""
        first = _subscribe(client, policy_updates, decision_log, after, policy_ids, namespaces, decision)
        return Watch(self.policies, first, timeout)


class AsyncWatch:
    """A ``WatchPolicyStream`` call (asyncio): ``async for`` events, :meth:`ack` positions."""

    def __init__(self, stub: Any, first: Any, timeout: float | None) -> None:
        self.last_acked: tuple[int, int] | None = None
        self._call = stub.WatchPolicyStream(timeout=timeout)
        self._first = first
        self._started = False

    async def _start(self) -> None:
        if not self._started:
            self._started = True
            await self._call.write(self._first)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._events()

    async def _events(self) -> AsyncIterator[Any]:
        await self._start()
        while True:
            event = await self._call.read()
            if event is aio.EOF:
                return
            yield event

    async def ack(self, position: tuple[int, int]) -> None:
        await self._start()
        self.last_acked = position
        await self._call.write(_ack(position))

    async def close(self) -> None:
        """Ends the client's side and waits for the server to end the call (acks saved)."""
        try:
            await self._start()
            await self._call.done_writing()
            while await self._call.read() is not aio.EOF:
                pass
        except grpc.RpcError:
            pass
        self._call.cancel()


class AsyncClient(_Stubs):
    """The asyncio client; the same arguments and methods as :class:`Client`, awaited."""

    def __init__(
        self,
        target: str,
        *,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        server_name: str | None = None,
        options: _Options = (),
    ) -> None:
        self._bind(_open(aio, target, ca_file, cert_file, key_file, server_name, options))

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.channel.close()

    async def review(
        self,
        obj: Mapping[str, Any] | bytes,
        *,
        policy_ids: Sequence[str] = (),
        operation: str = "",
        timeout: float | None = None,
    ) -> Any:
        return await self.decisions.Review(_review_request(obj, policy_ids, operation, ""), timeout=timeout)

    async def evaluate(self, policy_id: str, value: Any, *, timeout: float | None = None) -> Any:
        return await self.decisions.Evaluate(_evaluate_request(policy_id, value), timeout=timeout)

    async def review_stream(
        self, objs: Iterable[Mapping[str, Any] | bytes], *, timeout: float | None = None
    ) -> AsyncIterator[Any]:
        requests = (_review_request(o, (), "", str(i)) for i, o in enumerate(objs))
        async for answer in self.decisions.ReviewStream(requests, timeout=timeout):
            yield answer

    async def check(self, request: Any, *, timeout: float | None = None) -> Any:
        return await self.authorization.Check(_check_request(request), timeout=timeout)

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        answer = await self.health_stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))

    def watch(
        self,
        client: str,
        *,
        policy_updates: bool = True,
        decision_log: bool = False,
        after: tuple[int, int] | None = None,
        policy_ids: Sequence[str] = (),
        namespaces: Sequence[str] = (),
        decision: str = "",
        timeout: float | None = None,
    ) -> AsyncWatch:
        first = _subscribe(client, policy_updates, decision_log, after, policy_ids, namespaces, decision)
        return AsyncWatch(self.policies, first, timeout)
