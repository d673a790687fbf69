"""OPA's ``http.send`` builtin.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/http.go
(request building in :mod:`~kubegate.evaluator.builtins.misc_http_request`),
sending real requests with ``requests`` when the query enables it
(``ctx.http_send_enabled``); otherwise every call fails with a builtin error
("http.send is disabled (enable it explicitly)").

Supported request fields: ``method``, ``url``, ``headers`` (names put in
canonical form, values strings), ``body`` (sent as JSON) / ``raw_body``,
``timeout`` (nanoseconds, a Go duration string or a plain number string;
``ctx.http_send_timeout_s`` by default, 0 for none), ``enable_redirect``,
``tls_insecure_skip_verify``, ``tls_use_system_certs``, ``tls_ca_cert`` /
``_file`` / ``_env_variable``, ``tls_client_cert`` / ``tls_client_key`` (and
their ``_file`` / ``_env_variable`` forms), ``tls_server_name``,
``raise_error`` (default true: transport errors end the query; false: the
result is ``{"status_code": 0, "error": {"code", "message"}}``),
``force_json_decode``, ``force_yaml_decode``, ``max_retry_attempts``,
``cache_ignored_headers``. ``cache``, ``force_cache``,
``force_cache_duration_seconds`` and ``caching_mode`` are validated as OPA
does, but kubegate has no inter-query cache, so they only get the per-query
cache every request has: identical requests within a query are sent once
(responses with a cacheable status and transport errors are remembered, as
OPA's intra-query cache does).

The response is ``{"status", "status_code", "body", "raw_body", "headers"}``
with header names lower-cased and each mapped to the list of its values; the
body is decoded for ``application/json`` and ``application/*+json`` (YAML for
``application/yaml`` / ``application/x-yaml``), else null.

Differences from OPA: no ``unix://`` sockets, no proxies from the environment
(requests go direct), and transport error texts are Go-like but built from
what ``requests`` reports.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any
from urllib.parse import urlsplit

import requests
import yaml
from requests.adapters import HTTPAdapter

from kubegate.evaluator.builtins.misc_http_request import Prepared, SendError, bool_field, term_string
from kubegate.evaluator.builtins.registry import BuiltinContext, BuiltinError, HaltError, implements
from kubegate.evaluator.builtins.semver import go_strconv_quote as _q
from kubegate.evaluator.values import hkey, keys, type_name

__all__ = ["ALLOWED_KEYS"]

ALLOWED_KEYS = frozenset(
    {
        "method", "url", "body", "enable_redirect", "force_json_decode", "force_yaml_decode", "headers",
        "raw_body", "tls_use_system_certs", "tls_ca_cert", "tls_ca_cert_file", "tls_ca_cert_env_variable",
        "tls_client_cert", "tls_client_cert_file", "tls_client_cert_env_variable", "tls_client_key",
        "tls_client_key_file", "tls_client_key_env_variable", "tls_insecure_skip_verify", "tls_server_name",
        "timeout", "cache", "force_cache", "force_cache_duration_seconds", "raise_error", "caching_mode",
        "max_retry_attempts", "cache_ignored_headers",
    }
)  # fmt: skip
_CACHEABLE = frozenset({200, 203, 204, 206, 300, 301, 404, 405, 410, 414, 501})


def _set_string(items: list[Any]) -> str:
    return "{" + ", ".join(term_string(k) for k in items) + "}"


def _validate(req: dict[Any, Any]) -> None:
    names = keys(req)
    invalid = [k for k in names if not (type(k) is str and k in ALLOWED_KEYS)]
    if invalid:
        raise SendError(f"operand 1 invalid request parameters(s): {_set_string(invalid)}", "type")
    missing = [k for k in ("method", "url") if k not in req]
    if missing:
        raise SendError(f"operand 1 missing required request parameters(s): {_set_string(missing)}", "type")


def _cache_key(req: dict[Any, Any]) -> Any:
    key = dict(req)
    if "cache_ignored_headers" in req and "headers" in req:
        ignored: Any = req["cache_ignored_headers"]
        headers: Any = req["headers"]
        if type(ignored) not in (list, tuple) or any(type(h) is not str for h in ignored):
            raise SendError("json: cannot unmarshal cache_ignored_headers into Go value of type []string", "plain")
        if type(headers) is not dict:
            raise SendError("json: cannot unmarshal headers into Go value of type map[string]interface {}", "plain")
        key["headers"] = {k: v for k, v in headers.items() if k not in ignored}
    key["cache_ignored_headers"] = None
    return ("http.send", hkey(key))


def _check_cache_options(req: dict[Any, Any]) -> None:
    bool_field(req, "cache")
    if bool_field(req, "force_cache"):
        if "force_cache_duration_seconds" not in req:
            raise SendError("'force_cache' set but 'force_cache_duration_seconds' parameter is missing")
        text = term_string(req["force_cache_duration_seconds"])
        try:
            n = int(text, 10)
        except ValueError:
            raise SendError(f"strconv.ParseInt: parsing {_q(text)}: invalid syntax") from None
        if not -(1 << 31) <= n < 1 << 31:
            raise SendError(f"strconv.ParseInt: parsing {_q(text)}: value out of range")
    if "caching_mode" in req:
        mode = req["caching_mode"]
        if type(mode) is not str:
            raise SendError('invalid value for "caching_mode" field')
        if mode not in ("serialized", "deserialized"):
            raise SendError(f'invalid value specified for "caching_mode" field: {mode}')


class _ServerNameAdapter(HTTPAdapter):
    """Sends ``server_name`` as the TLS server name (and checks the certificate against it)."""

    def __init__(self, server_name: str) -> None:
        self._server_name = server_name
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["server_hostname"] = self._server_name
        super().init_poolmanager(*args, **kwargs)


_CLIENT_TIMEOUT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"


def _url_error(method: str, url: str, reason: str) -> SendError:
    """Go's ``*url.Error``: ``Get "URL": reason``."""
    op = method[:1] + method[1:].lower() if method else "Get"
    timed_out = f"{op} {url}: request timed out" if reason == _CLIENT_TIMEOUT else ""
    return SendError(f"{op} {_q(url)}: {reason}", "network", timed_out)


def _transport_reason(e: requests.RequestException, host: str) -> str:
    text = str(e)
    if isinstance(e, requests.Timeout):
        return _CLIENT_TIMEOUT
    if isinstance(e, requests.exceptions.SSLError):
        return f"tls: failed to verify certificate: {text}"
    if isinstance(e, requests.exceptions.TooManyRedirects):
        return "stopped after 10 redirects"
    if "Connection refused" in text:
        return f"dial tcp {host}: connect: connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text or "getaddrinfo failed" in text:
        return f"dial tcp: lookup {host.rsplit(':', 1)[0]}: no such host"
    return text


@contextmanager
def _session(p: Prepared) -> Iterator[requests.Session]:
    s = requests.Session()
    s.trust_env = False
    s.max_redirects = 10
    s.headers.clear()
    if p.server_name:
        s.mount("https://", _ServerNameAdapter(p.server_name))
    try:
        yield s
    finally:
        s.close()


def _execute(req: dict[Any, Any], p: Prepared) -> dict[Any, Any]:
    retries = 0
    if "max_retry_attempts" in req:
        r = req["max_retry_attempts"]
        if type(r) not in (int, float) or (type(r) is float and not r.is_integer()) or r < 0 or r >= 1 << 63:
            raise SendError(f'invalid value {term_string(r)} for field "max_retry_attempts"', "plain")
        retries = int(r)
    parts = urlsplit(p.url) if "\x00" not in p.url else None
    if parts is None or parts.scheme.lower() not in ("http", "https"):
        scheme = parts.scheme if parts is not None else ""
        raise _url_error(p.method, p.url, f"unsupported protocol scheme {_q(scheme)}")
    if not parts.netloc:
        raise _url_error(p.method, p.url, "http: no Host in request URL")
    host = parts.netloc.rsplit("@", 1)[-1]
    if ":" not in host.rsplit("]", 1)[-1]:
        host += ":443" if parts.scheme.lower() == "https" else ":80"
    user_encoding = any(k.lower() == "accept-encoding" for k in p.headers)
    headers = dict(p.headers) if user_encoding else {**p.headers, "Accept-Encoding": "gzip"}
    with _session(p) as session:
        for attempt in range(retries + 1):
            try:
                resp = session.request(
                    p.method, p.url, data=p.body, headers=headers, timeout=p.timeout, verify=p.verify,
                    cert=p.cert, allow_redirects=p.redirect, stream=True,
                )  # fmt: skip
                with resp:
                    raw = resp.raw.read(decode_content=not user_encoding)
                    return _response(req, resp, raw, decoded=not user_encoding)
            except requests.RequestException as e:
                if attempt == retries:
                    raise _url_error(p.method, p.url, _transport_reason(e, host)) from None
            except Exception as e:  # urllib3 or socket errors outside requests' wrapping
                if attempt == retries:
                    raise _url_error(p.method, p.url, str(e) or type(e).__name__) from None
            time.sleep(min(0.1 * 2**attempt, 60.0))
    raise _url_error(p.method, p.url, "request failed")  # pragma: no cover - the loop always returns or raises


def _media_type(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def _jsonify(v: Any, depth: int = 0) -> Any:
    """A YAML document as JSON values (keys as strings, timestamps as RFC 3339 text)."""
    if depth > 500:
        raise ValueError("too deep")
    if isinstance(v, dict):
        return {
            (k if type(k) is str else json.dumps(_jsonify(k, depth + 1))): _jsonify(x, depth + 1) for k, x in v.items()
        }
    if isinstance(v, list | tuple):
        return [_jsonify(x, depth + 1) for x in v]
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, float) and not math.isfinite(v):
        raise ValueError("not JSON")
    if v is None or isinstance(v, bool | int | float | str):
        return v
    return str(v)


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _decode_body(content_type: str, text: str, force_json: bool, force_yaml: bool) -> Any:
    mt = _media_type(content_type)
    main, _, sub = mt.partition("/")
    try:
        if force_json or (main == "application" and (sub == "json" or sub.endswith("+json"))):
            v = json.loads(text, parse_constant=_no_constant)
            return _jsonify(v)
        if force_yaml or "application/yaml" in content_type or "application/x-yaml" in content_type:
            return _jsonify(yaml.safe_load(text))
    except (ValueError, yaml.YAMLError, RecursionError):
        return None
    return None


def _response(req: dict[Any, Any], resp: requests.Response, raw: bytes, decoded: bool) -> dict[Any, Any]:
    headers: dict[str, list[str]] = {}
    for name, value in resp.raw.headers.items():
        headers.setdefault(name.lower(), []).append(value)
    headers.pop("transfer-encoding", None)
    if decoded and "content-encoding" in headers:  # Go removes what its transparent gzip handled
        headers.pop("content-encoding", None)
        headers.pop("content-length", None)
    force_json = bool_field(req, "force_json_decode")
    force_yaml = bool_field(req, "force_yaml_decode")
    text = raw.decode("utf-8", "replace")
    ctype = headers.get("content-type", [""])[0]
    return {
        "status": f"{resp.status_code} {resp.reason or ''}".rstrip(),
        "status_code": resp.status_code,
        "body": _decode_body(ctype, text, force_json, force_yaml),
        "raw_body": text,
        "headers": {k: tuple(v) for k, v in headers.items()},
    }


def _send(ctx: BuiltinContext, req: dict[Any, Any]) -> dict[Any, Any]:
    key = _cache_key(req)
    _check_cache_options(req)
    cached = ctx.cache.get(key)
    if isinstance(cached, SendError):
        raise cached
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    try:
        p = Prepared(ctx, req)
        try:
            result = _execute(req, p)
        finally:
            p.cleanup()
    except SendError as e:
        ctx.cache[key] = e
        raise
    if result["status_code"] in _CACHEABLE:
        ctx.cache[key] = result
    return result


@implements("http.send", context=True)
def http_send(ctx: BuiltinContext, request: Any) -> dict[Any, Any]:
    """The response to the HTTP request described by ``request`` (see the module docs)."""
    if not ctx.http_send_enabled:
        raise BuiltinError("http.send is disabled (enable it explicitly)")
    if type(request) is not dict:
        raise HaltError(f"operand 1 must be object but got {type_name(request)}", "eval_type_error")
    raise_error = request.get("raise_error", True)
    if type(raise_error) is not bool:
        raise HaltError("invalid value for raise_error field")
    try:
        _validate(request)
        return _send(ctx, request)
    except SendError as e:
        if raise_error:
            if e.timed_out:
                raise HaltError(e.timed_out) from None
            raise e.halt() from None
        return e.result()
    except (RecursionError, MemoryError):
        raise HaltError("request too large or nested too deeply") from None
