"""Envoy's External Authorization service, ``envoy.service.auth.v3.Authorization/Check``, decided by Rego.

The contract is OPA-Envoy's (https://www.openpolicyagent.org/docs/envoy/),
so its policies run unchanged:

**Input.** The ``CheckRequest`` in protobuf's JSON mapping (camelCase field
names, as OPA-Envoy's ``protojson`` encoding: ``input.attributes.request.http.method``,
``path``, ``headers``, ``body``, ``source.address.socketAddress``...), plus

* ``parsed_path``: the path before ``?``, split on ``/``, empty first segment
  dropped (``/people/1?x=y`` -> ``["people", "1"]``), segments percent-decoded;
* ``parsed_query``: the query string as ``{name: [values...]}``;
* ``parsed_body``: the body decoded as JSON when the ``content-type`` header
  is ``application/json`` and a body was sent (``body``, or ``raw_body`` as
  UTF-8), else absent; a body that is not JSON leaves it absent;
* ``truncated_body``: Envoy's ``x-envoy-auth-partial-body`` header is ``true``;
* ``version``: ``{"ext_authz": "v3", "encoding": "protojson"}``.

**Decision.** The configured query (``data.envoy.authz.allow`` by default) is
evaluated with kubegate's evaluator (:func:`kubegate.evaluator.query`) over
the Rego modules of the policy set in force. Its value is either a boolean
(undefined is ``false``) or an object
``{allowed, headers, response_headers_to_add, request_headers_to_remove, body, http_status}``:
allowed gives ``OK`` with ``headers`` added to the upstream request,
``response_headers_to_add`` to the client's response and
``request_headers_to_remove`` removed; denied gives ``PERMISSION_DENIED``
with a denied response of ``http_status`` (403 by default), ``headers`` and
``body``. Header values may be strings or lists of strings. An evaluation
error answers ``PERMISSION_DENIED`` with status 500 (fail closed); a full
queue or a passed deadline is ``RESOURCE_EXHAUSTED`` / ``DEADLINE_EXCEEDED``
(Envoy's ``failure_mode_allow`` then decides), and ``UNAVAILABLE`` means no
policy set is loaded yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import urllib.parse
from collections.abc import Mapping
from typing import Any

import grpc
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from kubegate.engine.prepared import PreparedPolicySet
from kubegate.errors import InputError, KubegateError, UsageError
from kubegate.evaluator.program import Program
from kubegate.evaluator.query import PreparedQuery
from kubegate.grpc.decide import Decider
from kubegate.grpc.protos import base_pb2, external_auth_pb2, external_auth_pb2_grpc, http_status_pb2
from kubegate.rego.parser import parse_body
from kubegate.webhook.pool import EvaluationTimeout, PoolFull
from kubegate.yamlio import read_json

__all__ = ["DEFAULT_RULE", "AuthorizationServicer", "check_input", "parse_result"]

DEFAULT_RULE = "data.envoy.authz.allow"
_JSON_TYPES = ("application/json",)
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def _parsed_path(path: str) -> list[str]:
    bare = path.split("?", 1)[0].split("#", 1)[0]
    parts = [urllib.parse.unquote(p) for p in bare.split("/")]
    return parts[1:] if parts and parts[0] == "" else parts


def check_input(request: Any) -> dict[str, Any]:
    """The policy's ``input`` for a ``CheckRequest`` (see the module docstring)."""
    doc: dict[str, Any] = json_format.MessageToDict(request)
    http = request.attributes.request.http
    headers = {k.lower(): v for k, v in http.headers.items()}
    path = http.path
    query = path.split("?", 1)[1].split("#", 1)[0] if "?" in path else ""
    doc["parsed_path"] = _parsed_path(path)
    doc["parsed_query"] = urllib.parse.parse_qs(query, keep_blank_values=True)
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    body = http.body or (http.raw_body.decode("utf-8", "replace") if http.raw_body else "")
    if content_type in _JSON_TYPES and body:
        with contextlib.suppress(InputError):  # not JSON: no parsed_body, as OPA-Envoy
            doc["parsed_body"] = read_json(body, "<request body>")
    doc["truncated_body"] = headers.get("x-envoy-auth-partial-body", "").lower() == "true"
    doc["version"] = {"ext_authz": "v3", "encoding": "protojson"}
    return doc


def _header_options(headers: Any, append: bool = False) -> list[Any]:
    out: list[Any] = []
    if not isinstance(headers, Mapping):
        return out
    for name, value in headers.items():
        values = value if isinstance(value, list) else [value]
        for v in values:
            header = base_pb2.HeaderValue(key=str(name), value=v if isinstance(v, str) else json.dumps(v))
            action = base_pb2.HeaderValueOption.APPEND_IF_EXISTS_OR_ADD if append else _OVERWRITE
            out.append(base_pb2.HeaderValueOption(header=header, append_action=action))
    return out


def _denied(status: int, body: str = "", headers: Any = None, message: str = "") -> Any:
    code = status if status in http_status_pb2.StatusCode.values() else 403
    return external_auth_pb2.CheckResponse(
        status=status_pb2.Status(code=code_pb2.PERMISSION_DENIED, message=message),
        denied_response=external_auth_pb2.DeniedHttpResponse(
            status=http_status_pb2.HttpStatus(code=http_status_pb2.StatusCode.Name(code)),
            headers=_header_options(headers),
            body=body,
        ),
    )


def parse_result(value: Any) -> Any:
    """The ``CheckResponse`` for the query's value (a boolean, an object, or ``None`` for undefined).

    Raises:
        UsageError: ``envoy_result_invalid`` for a value that is neither.
    """
    if value is None or isinstance(value, bool):
        if value:
            return external_auth_pb2.CheckResponse(
                status=status_pb2.Status(code=code_pb2.OK), ok_response=external_auth_pb2.OkHttpResponse()
            )
        return _denied(403)
    if not isinstance(value, Mapping) or not isinstance(value.get("allowed", False), bool):
        raise UsageError(
            f"the authorization rule returned {type(value).__name__}; expected a boolean or an object "
            "with a boolean `allowed`",
            code="envoy_result_invalid",
        )
    if value.get("allowed", False):
        ok = external_auth_pb2.OkHttpResponse(
            headers=_header_options(value.get("headers")),
            response_headers_to_add=_header_options(value.get("response_headers_to_add")),
            headers_to_remove=[str(h) for h in value.get("request_headers_to_remove") or ()],
        )
        return external_auth_pb2.CheckResponse(status=status_pb2.Status(code=code_pb2.OK), ok_response=ok)
    body = value.get("body", "")
    status = value.get("http_status", 403)
    return _denied(
        int(status) if isinstance(status, int | float) else 403,
        body if isinstance(body, str) else json.dumps(body),
        value.get("headers"),
    )


class _Queries:
    """The prepared query per policy set (planned on first use after each activation)."""

    def __init__(self, rule: str) -> None:
        self.rule = rule
        self._body = parse_body(rule)
        self._lock = threading.Lock()
        self._for: tuple[PreparedPolicySet, PreparedQuery] | None = None

    def get(self, prepared: PreparedPolicySet) -> PreparedQuery:
        """The query planned over ``prepared``'s modules (planned once per policy set).

        Raises:
            RegoCompileError: the query does not compile against those modules.
        """
        with self._lock:
            if self._for is not None and self._for[0] is prepared:
                return self._for[1]
            modules = [m.source if m.source is not None else m.module for m in prepared.catalog.modules]
            query = PreparedQuery(Program(modules, dict(prepared.data)), self._body, self.rule)
            self._for = (prepared, query)
            return query


class AuthorizationServicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    """Envoy ext_authz ``Check`` (see the module docstring).

    Args:
        decider: whose policy snapshot, pool and time limit decide.
        rule: the query deciding each request (``data.envoy.authz.allow``).

    Raises:
        RegoParseError: ``rule`` is not a query.
    """

    def __init__(self, decider: Decider, rule: str = DEFAULT_RULE) -> None:
        self.decider = decider
        self.queries = _Queries(rule)

    async def Check(self, request: Any, context: Any) -> Any:
        snapshot = self.decider.snapshot
        if snapshot is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "not_ready: no policy set is loaded yet")
        assert snapshot is not None
        service = self.decider.service
        limit = service.settings.max_evaluation_time_ms / 1000
        remaining = context.time_remaining()
        if remaining is not None:
            limit = min(limit, max(remaining, 0.0))
        deadline = asyncio.get_running_loop().time() + limit
        doc = check_input(request)
        prepared = snapshot.latest

        def run() -> Any:
            query = self.queries.get(prepared)
            results = query.eval(doc, timeout_s=limit)
            return results[0].expressions[0] if results else None

        try:
            value = await service.pool.run_until(run, deadline)
        except (PoolFull, EvaluationTimeout):
            raise  # RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED: Envoy's failure_mode_allow decides
        except KubegateError as exc:  # the rule failed to compile or evaluate: fail closed
            if exc.code == "eval_cancel_error":
                raise
            return _denied(500, message=f"{exc.code}: {exc.message}")
        try:
            return parse_result(value)
        except KubegateError as exc:
            return _denied(500, message=f"{exc.code}: {exc.message}")
