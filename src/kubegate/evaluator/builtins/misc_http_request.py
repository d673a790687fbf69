"""The request half of OPA's ``http.send``: operand fields to a ready request.

Part of :mod:`kubegate.evaluator.builtins.misc_http`; follows
``createHTTPRequest`` in
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/http.go.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import suppress
from typing import Any

import certifi

from kubegate.evaluator.builtins.registry import BuiltinContext, HaltError
from kubegate.evaluator.builtins.semver import go_strconv_quote as _q
from kubegate.evaluator.builtins.timefns_go import GoTimeError
from kubegate.evaluator.builtins.timefns_goduration import parse_duration
from kubegate.evaluator.values import keys, to_json, to_key, type_name

__all__ = ["Prepared", "SendError", "bool_field", "term_string"]

_STRING_KEYS = frozenset(
    {
        "method", "url", "raw_body", "tls_ca_cert", "tls_ca_cert_file", "tls_ca_cert_env_variable",
        "tls_client_cert", "tls_client_cert_file", "tls_client_cert_env_variable", "tls_client_key",
        "tls_client_key_file", "tls_client_key_env_variable", "tls_server_name",
    }
)  # fmt: skip
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_USER_AGENT = "kubegate (Open Policy Agent compatible http.send)"
_INT64 = 1 << 63
_GO_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)
_BOOL_TEXT = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True}
_BOOL_TEXT.update({"0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False})


class SendError(Exception):
    """An ``http.send`` failure and how OPA classifies it.

    ``kind``: ``network`` (Go's ``*url.Error``), ``plain`` (a bare error),
    ``builtin`` / ``type`` (already an OPA ``eval_builtin_error`` /
    ``eval_type_error`` of ``http.send``).
    """

    def __init__(self, message: str, kind: str = "builtin", timed_out: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.timed_out = timed_out  # for a timeout: OPA's "Op URL: request timed out"

    def halt(self) -> HaltError:
        return HaltError(self.message, "eval_type_error" if self.kind == "type" else "eval_builtin_error")

    def result(self) -> dict[Any, Any]:
        if self.kind == "network":
            code, message = "eval_http_send_network_error", self.message
        elif self.kind == "plain":
            code, message = "eval_http_send_internal_error", self.message
        else:
            prefix = "eval_type_error" if self.kind == "type" else "eval_builtin_error"
            code, message = "eval_http_send_internal_error", f"{prefix}: http.send: {self.message}"
        return {"status_code": 0, "error": {"code": code, "message": message}}


def term_string(v: Any) -> str:
    """OPA's ``Term.String()`` of a scalar, as ``strconv.ParseBool`` sees it."""
    t = type(v)
    if t is str:
        return _q(v)
    if t is bool:
        return "true" if v else "false"
    if v is None:
        return "null"
    return json.dumps(to_json(v), separators=(", ", ": "), sort_keys=True)


def parse_bool(v: Any) -> bool:
    text = term_string(v)
    if text not in _BOOL_TEXT:
        raise SendError(f"strconv.ParseBool: parsing {_q(text)}: invalid syntax")
    return _BOOL_TEXT[text]


def bool_field(req: dict[Any, Any], key: str, kind: str = "builtin") -> bool:
    v = req.get(key)
    if v is None and key not in req:
        return False
    if type(v) is not bool:
        raise SendError(f"invalid value for {_q(key)} field", kind)
    return bool(v)


def canonical_header(name: str) -> str:
    """Go's ``http.CanonicalHeaderKey``."""
    if not name or any(c not in _TCHAR for c in name):
        return name
    return "-".join(p[:1].upper() + p[1:].lower() for p in name.split("-"))


def go_json(value: Any) -> bytes:
    """Go's ``json.Marshal`` of a Rego value (sorted keys, HTML characters escaped)."""
    text = json.dumps(to_json(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    for a, b in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return text.encode("utf-8")


def parse_timeout(v: Any) -> float | None:
    t = type(v)
    if t is int or t is float:
        if (t is float and not v.is_integer()) or not -_INT64 <= v < _INT64:
            raise SendError(f"invalid timeout number value {term_string(v)}, must be int64")
        ns = int(v)
    elif t is str:
        try:
            ns = int(v, 10) if _GO_INT.fullmatch(v) and -_INT64 <= int(v, 10) < _INT64 else parse_duration(v)
        except GoTimeError as e:
            raise SendError(f"invalid timeout value {_q(v)}: {e}") from None
    else:
        raise SendError(f"operand 1 'timeout' must be one of {{string, number}} but got {type_name(v)}", "type")
    return ns / 1e9 if ns > 0 else None


class Prepared:
    """The request OPA's ``createHTTPRequest`` would build."""

    def __init__(self, ctx: BuiltinContext, req: dict[Any, Any]) -> None:
        self.method = "GET"
        self.url = ""
        self.body: bytes | None = None
        self.headers: dict[str, str] = {}
        self.redirect = False
        self.verify: bool | str = True
        self.cert: tuple[str, str] | None = None
        self.server_name = ""
        self.timeout: float | None = ctx.http_send_timeout_s or None
        self.temp_files: list[str] = []
        strings: dict[str, str] = {}
        raw_body: str | None = None
        insecure = False
        system_certs: bool | None = None
        custom: dict[str, Any] = {}
        for key in keys(req):
            v = req[to_key(key)]
            if type(v) is str:
                strings[key] = v.strip('"')
            elif key in _STRING_KEYS:
                raise SendError(f"{_q(key)} must be a string")
            if key == "method":
                self.method = strings[key].upper() or "GET"
            elif key == "url":
                self.url = strings[key]
            elif key == "enable_redirect":
                self.redirect = parse_bool(v)
            elif key == "body":
                try:
                    self.body = go_json(v)
                except (ValueError, TypeError, RecursionError) as e:
                    raise SendError(f"json: unsupported value: {e}") from None
            elif key == "raw_body":
                raw_body = strings[key]
            elif key == "tls_use_system_certs":
                system_certs = parse_bool(v)
            elif key == "tls_insecure_skip_verify":
                insecure = parse_bool(v)
            elif key == "headers":
                if type(v) is not dict or any(type(k) is not str for k in v):
                    raise SendError("invalid type for headers key")
                custom = {canonical_header(k): hv for k, hv in v.items()}
            elif key == "timeout":
                self.timeout = parse_timeout(v)
        if raw_body is not None:
            self.body = raw_body.encode("utf-8", "surrogatepass")
        if self.body == b"":
            self.body = None
        if any(c not in _TCHAR for c in self.method):
            raise SendError(f"net/http: invalid method {_q(self.method)}")
        self._tls(strings, insecure, system_certs)
        if "Host" in custom and type(custom["Host"]) is str:
            self.server_name = custom["Host"]
        self.server_name = strings.get("tls_server_name") or self.server_name
        for k, hv in custom.items():
            if type(hv) is not str:
                raise SendError(f"invalid type for headers value {_q(term_string(hv))}")
            self.headers[k] = hv
        self.headers.setdefault("User-Agent", _USER_AGENT)

    def _pem(self, text: str) -> str:
        fd, path = tempfile.mkstemp(prefix="kubegate-http-", suffix=".pem")
        self.temp_files.append(path)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def _tls(self, s: dict[str, str], insecure: bool, system_certs: bool | None) -> None:
        cas: list[str] = []
        if s.get("tls_ca_cert"):
            cas.append(s["tls_ca_cert"].replace("\\n", "\n"))
        if s.get("tls_ca_cert_file"):
            cas.append(read_file(s["tls_ca_cert_file"]))
        if s.get("tls_ca_cert_env_variable"):
            cas.append(os.environ.get(s["tls_ca_cert_env_variable"], ""))
        for pem in cas:
            if "-----BEGIN CERTIFICATE-----" not in pem:
                raise SendError("could not append certificates")
        if cas:
            if system_certs:
                cas.insert(0, read_file(certifi.where()))
            self.verify = self._pem("\n".join(cas))
        if insecure:
            self.verify = False
        pairs = [(s.get("tls_client_cert", ""), s.get("tls_client_key", ""))]
        if s.get("tls_client_cert_env_variable") and s.get("tls_client_key_env_variable"):
            pairs.append(
                (
                    os.environ.get(s["tls_client_cert_env_variable"], ""),
                    os.environ.get(s["tls_client_key_env_variable"], ""),
                )
            )
        for cert, key in pairs:
            if cert and key:
                if "-----BEGIN" not in cert or "-----BEGIN" not in key:
                    raise SendError("tls: failed to find any PEM data in certificate input")
                self.cert = (self._pem(cert), self._pem(key))
        if s.get("tls_client_cert_file") and s.get("tls_client_key_file"):
            for path in (s["tls_client_cert_file"], s["tls_client_key_file"]):
                read_file(path)
            self.cert = (s["tls_client_cert_file"], s["tls_client_key_file"])

    def cleanup(self) -> None:
        for path in self.temp_files:
            with suppress(OSError):
                os.unlink(path)


def read_file(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError as e:
        raise SendError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
