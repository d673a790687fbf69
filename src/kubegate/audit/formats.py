"""Wire formats of the HTTP decision-log sink: OPA's upload, Splunk HEC, Elastic bulk.

A sink spec is the URL, with the format and its options in the URL's
fragment (the part after ``#``, which is never sent), ``&``-separated::

    https://logs.example/logs                                                  OPA (the default)
    https://splunk.example:8088/services/collector/event#format=splunk-hec&token-env=HEC_TOKEN
    https://es.example:9200/_bulk#format=elastic-bulk&index=logs-kubegate.decision-default&token-file=/run/es/key

Options: ``format`` (``opa``, ``splunk-hec``, ``elastic-bulk``); ``token-env``
or ``token-file`` (where the token is read: an environment variable or a
file, never the spec itself; a file is read again for every request, so a
rotated Kubernetes Secret is picked up); ``ca-file`` (CA bundle to verify the
service's certificate); Splunk: ``host``, ``source``, ``sourcetype``,
``index``; Elastic: ``index``.

* ``opa`` (https://www.openpolicyagent.org/docs/latest/management-decision-logs/):
  a gzip-compressed JSON array of records; a token is sent as ``Authorization: Bearer``.
* ``splunk-hec`` (https://docs.splunk.com/Documentation/Splunk/latest/Data/FormateventsforHTTPEventCollector):
  the records as concatenated JSON events ``{"time": <epoch s.ms>, "host",
  "source": "kubegate", "sourcetype": "kubegate:decision", "index"?, "event": <record>}``
  (policy-set manifest records: sourcetype ``kubegate:policy-set``),
  ``Authorization: Splunk <token>``; an answer whose ``code`` is not 0 failed.
* ``elastic-bulk`` (https://www.elastic.co/guide/en/elasticsearch/reference/current/docs-bulk.html):
  NDJSON lines ``{"create": {"_index", "_id": <decision_id>}}`` + the record
  with ``@timestamp`` (a copy of ``timestamp``: data streams require it),
  newline-terminated, ``Authorization: ApiKey <encoded key>``. An answer with
  ``errors: true`` failed if any item failed other than with 409
  ``version_conflict_engine_exception``: with ``create`` and ``_id`` that is a
  record already indexed by an earlier attempt, so retrying a whole batch
  indexes each record once.
"""

from __future__ import annotations

import calendar
import gzip
import json
import os
import re
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from kubegate.audit.manifest import is_manifest, maybe_manifest
from kubegate.errors import KubegateError, Location

__all__ = [
    "FORMATS",
    "Credential",
    "CredentialError",
    "ElasticBulk",
    "HttpSinkSpec",
    "OpaUpload",
    "SplunkHec",
    "WireFormat",
    "epoch_seconds",
    "parse_http_spec",
]

FORMATS = ("opa", "splunk-hec", "elastic-bulk")
MANIFEST_SOURCETYPE = "kubegate:policy-set"
"""The Splunk sourcetype of policy-set manifest records (:mod:`kubegate.audit.manifest`)."""
_COMMON = ("format", "token-env", "token-file", "ca-file")
_OPTIONS = {
    "opa": _COMMON,
    "splunk-hec": (*_COMMON, "host", "source", "sourcetype", "index"),
    "elastic-bulk": (*_COMMON, "index"),
}
_HEC_PATHS = ("/services/collector", "/services/collector/event", "/services/collector/event/1.0")
# The first keys of a record as build_record writes them: read without parsing the whole record.
_HEAD = re.compile(rb'\{"decision_id":"([^"\\]*)","timestamp":"([^"\\]*)"')
_RFC3339 = re.compile(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z")
# Elasticsearch's index names: lowercase, none of \ / * ? " < > | , # : or space, not starting with - _ +.
_INDEX = re.compile(r"[a-z0-9.][^A-Z\\/*?\"<>|, #:]{0,254}")
_TOKEN = re.compile(r"[\x21-\x7e]+")


class CredentialError(KubegateError):
    """A sink's token cannot be read (unset variable, missing or empty file)."""

    code = "sink_credential_unavailable"


def _invalid(spec: str, problem: str) -> KubegateError:
    return KubegateError(f"sink {spec.partition('#')[0]!r}: {problem}", code="invalid_sink")


@dataclass(frozen=True)
class Credential:
    """Where a sink's token is read: the environment variable ``env`` or the file ``file``."""

    env: str = ""
    file: str = ""

    def read(self) -> str:
        """The token, stripped of surrounding white space.

        Raises:
            CredentialError: unset or empty, unreadable, or not printable ASCII.
        """
        location = Location(self.file) if self.file else None
        if self.env:
            value, where = os.environ.get(self.env, ""), f"environment variable {self.env}"
        else:
            where = "the token file"
            try:
                value = Path(self.file).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise CredentialError(f"cannot read the token file: {exc}", location) from None
        value = value.strip()
        if not value:
            raise CredentialError(f"{where} is {'empty or unset' if self.env else 'empty'}", location)
        if not _TOKEN.fullmatch(value):
            raise CredentialError(f"{where} holds characters a token cannot have (space, control, non-ASCII)", location)
        return value


def _authorization(scheme: str, credential: Credential | None) -> dict[str, str]:
    return {"Authorization": f"{scheme} {credential.read()}"} if credential is not None else {}


class WireFormat(Protocol):
    """How the HTTP sink writes a batch and reads the answer."""

    @property
    def name(self) -> str:
        """The format's name in a sink spec (``opa``, ``splunk-hec``, ``elastic-bulk``)."""

    def content_headers(self) -> dict[str, str]:
        """Headers of every request (``Content-Type``...)."""

    def authorization(self) -> dict[str, str]:
        """The ``Authorization`` header (read now), or ``{}``; raises :class:`CredentialError`."""

    def encode(self, payloads: Sequence[bytes]) -> bytes:
        """The request body for serialised records (UTF-8 JSON objects, as the log holds them)."""

    def rejected(self, body: bytes, count: int) -> str | None:
        """Why a 2xx answer (``body``) to a batch of ``count`` records still failed, or ``None``."""


def _head(payload: bytes) -> tuple[str | None, str | None]:
    """``decision_id`` and ``timestamp`` of a record (``None`` for what it lacks)."""
    match = _HEAD.match(payload)
    if match is not None:
        return match[1].decode(), match[2].decode()
    try:
        record = json.loads(payload)
    except ValueError:
        return None, None
    if not isinstance(record, Mapping):
        return None, None
    ids, times = record.get("decision_id"), record.get("timestamp")
    return (ids if isinstance(ids, str) else None), (times if isinstance(times, str) else None)


def _is_manifest(payload: bytes) -> bool:
    try:
        return is_manifest(json.loads(payload))
    except ValueError:
        return False


def epoch_seconds(timestamp: str) -> str | None:
    """An RFC 3339 UTC time (``2026-11-21T10:33:56.610281000Z``) as Splunk's ``<sec>.<ms>``
    (``1795257236.610``; truncated to milliseconds), or ``None`` if it is not one."""
    match = _RFC3339.fullmatch(timestamp)
    if match is None:
        return None
    seconds = calendar.timegm((*(int(match[i]) for i in range(1, 7)), 0, 0, 0))
    return f"{seconds}.{(match[7] or '')[:3].ljust(3, '0')}"


@dataclass(frozen=True)
class OpaUpload:
    """OPA's decision-log upload: a gzip-compressed JSON array; a token as ``Bearer``."""

    credential: Credential | None = None
    name: str = "opa"

    def content_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json", "Content-Encoding": "gzip"}

    def authorization(self) -> dict[str, str]:
        return _authorization("Bearer", self.credential)

    def encode(self, payloads: Sequence[bytes]) -> bytes:
        return gzip.compress(b"[" + b",".join(payloads) + b"]")

    def rejected(self, body: bytes, count: int) -> str | None:
        return None


@dataclass(frozen=True)
class SplunkHec:
    """Splunk's HTTP Event Collector, ``/services/collector/event`` (see the module docstring)."""

    credential: Credential
    host: str
    source: str = "kubegate"
    sourcetype: str = "kubegate:decision"
    index: str = ""
    name: str = "splunk-hec"

    def content_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/json"}

    def authorization(self) -> dict[str, str]:
        return _authorization("Splunk", self.credential)

    def encode(self, payloads: Sequence[bytes]) -> bytes:
        meta: dict[str, str] = {"host": self.host, "source": self.source, "sourcetype": self.sourcetype}
        if self.index:
            meta["index"] = self.index
        fields = json.dumps(meta, separators=(",", ":"), ensure_ascii=False)[1:-1].encode()
        manifest_fields = json.dumps(
            {**meta, "sourcetype": MANIFEST_SOURCETYPE}, separators=(",", ":"), ensure_ascii=False
        )[1:-1].encode()
        events = []
        for payload in payloads:
            _, timestamp = _head(payload)
            seconds = epoch_seconds(timestamp) if timestamp else None
            when = b'"time":' + seconds.encode() + b"," if seconds else b""  # none: HEC's receipt time
            meta_fields = manifest_fields if maybe_manifest(payload) and _is_manifest(payload) else fields
            events.append(b"{" + when + meta_fields + b',"event":' + payload + b"}")
        return b"".join(events)

    def rejected(self, body: bytes, count: int) -> str | None:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, Mapping) or "code" not in answer:
            return f"the answer is not Splunk HEC's: {body[:200]!r}"
        if answer["code"] != 0:
            return f"HEC code {answer['code']}: {answer.get('text', '')}"
        return None


@dataclass(frozen=True)
class ElasticBulk:
    """Elasticsearch's bulk API, ``create`` actions (see the module docstring)."""

    index: str
    credential: Credential | None = None
    name: str = "elastic-bulk"

    def content_headers(self) -> dict[str, str]:
        return {"Content-Type": "application/x-ndjson"}

    def authorization(self) -> dict[str, str]:
        return _authorization("ApiKey", self.credential)

    def encode(self, payloads: Sequence[bytes]) -> bytes:
        lines = []
        for payload in payloads:
            if b"\n" in payload:  # NDJSON: one line per document (the log's records never have one)
                payload = json.dumps(json.loads(payload), separators=(",", ":"), ensure_ascii=False).encode()
            decision_id, timestamp = _head(payload)
            target: dict[str, str] = {"_index": self.index}
            if decision_id:
                target["_id"] = decision_id
            lines.append(json.dumps({"create": target}, separators=(",", ":"), ensure_ascii=False).encode())
            if timestamp and payload.startswith(b"{") and payload[1:2] != b"}":
                payload = b'{"@timestamp":' + json.dumps(timestamp).encode() + b"," + payload[1:]
            lines.append(payload)
        return b"\n".join(lines) + b"\n"

    def rejected(self, body: bytes, count: int) -> str | None:
        try:
            answer = json.loads(body)
        except ValueError:
            answer = None
        if not isinstance(answer, Mapping) or not isinstance(answer.get("errors"), bool):
            return f"the answer is not a bulk response: {body[:200]!r}"
        items = answer.get("items")
        if not isinstance(items, list) or len(items) != count:
            return f"the bulk response has {len(items) if isinstance(items, list) else 'no'} items for {count} sent"
        if not answer["errors"]:
            return None
        failed = [item for item in (_item(entry) for entry in items) if not _indexed(item)]
        if not failed:
            return None  # every failure was a record an earlier attempt already indexed
        first = failed[0]
        error: Mapping[str, Any] = first["error"] if isinstance(first.get("error"), Mapping) else {}
        return (
            f"{len(failed)} of {count} bulk items failed; first: status {first.get('status')} "
            f"{error.get('type', '')}: {error.get('reason', '')} (_id {first.get('_id', '')})"
        )


def _item(entry: Any) -> Mapping[str, Any]:
    """The result of one bulk action (``{"create": {...}}``)."""
    if isinstance(entry, Mapping) and len(entry) == 1:
        (result,) = entry.values()
        if isinstance(result, Mapping):
            return result
    return {}


def _indexed(item: Mapping[str, Any]) -> bool:
    status = item.get("status")
    if isinstance(status, int) and 200 <= status < 300:
        return True
    error = item.get("error")
    return status == 409 and isinstance(error, Mapping) and error.get("type") == "version_conflict_engine_exception"


@dataclass(frozen=True)
class HttpSinkSpec:
    """A parsed HTTP sink spec: the URL to POST to (without the fragment), its format, TLS verification."""

    url: str
    wire: WireFormat
    verify: bool | str = True


def parse_http_spec(spec: str) -> HttpSinkSpec:
    """Reads ``http(s)://HOST/PATH[#OPTIONS]`` (see the module docstring); reads the token once.

    Raises:
        KubegateError: ``invalid_sink`` (unknown format or option, missing token or index, a path
            the format does not use); :class:`CredentialError` when the token cannot be read.
    """
    parts = urlsplit(spec)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _invalid(spec, "use http(s)://HOST/PATH")
    try:
        pairs = parse_qsl(parts.fragment, keep_blank_values=True, strict_parsing=True) if parts.fragment else []
    except ValueError:
        raise _invalid(spec, "options after # are key=value pairs joined by &") from None
    options: dict[str, str] = {}
    for key, value in pairs:
        if key in options:
            raise _invalid(spec, f"option {key} is given twice")
        if not value.strip():
            raise _invalid(spec, f"option {key} has no value")
        options[key] = value
    fmt = options.get("format", "opa")
    if fmt not in FORMATS:
        raise _invalid(spec, f"format {fmt!r} is not one of {', '.join(FORMATS)}")
    unknown = sorted(set(options) - set(_OPTIONS[fmt]))
    if unknown:
        raise _invalid(spec, f"unknown option(s) {', '.join(unknown)} for {fmt}; known: {', '.join(_OPTIONS[fmt])}")
    if "token-env" in options and "token-file" in options:
        raise _invalid(spec, "give token-env or token-file, not both")
    credential = None
    if "token-env" in options or "token-file" in options:
        credential = Credential(env=options.get("token-env", ""), file=options.get("token-file", ""))
        credential.read()  # refuse at start-up rather than retry forever
    verify: bool | str = True
    if "ca-file" in options:
        if not Path(options["ca-file"]).is_file():
            raise KubegateError("the CA file does not exist", Location(options["ca-file"]), code="invalid_sink")
        verify = options["ca-file"]
    url = urlunsplit(parts._replace(fragment=""))
    path = unquote(parts.path).rstrip("/")
    wire: WireFormat
    if fmt == "splunk-hec":
        if credential is None:
            raise _invalid(spec, "splunk-hec needs the HEC token: token-env=VAR or token-file=PATH")
        if not path.endswith(_HEC_PATHS):
            raise _invalid(spec, "the splunk-hec path is /services/collector/event")
        wire = SplunkHec(
            credential,
            host=options.get("host") or socket.gethostname(),
            source=options.get("source", "kubegate"),
            sourcetype=options.get("sourcetype", "kubegate:decision"),
            index=options.get("index", ""),
        )
    elif fmt == "elastic-bulk":
        segments = path.split("/")
        if segments[-1] != "_bulk":
            raise _invalid(spec, "the elastic-bulk path is /_bulk or /<index>/_bulk")
        index = options.get("index") or (segments[1] if len(segments) == 3 else "")
        if not index:
            raise _invalid(spec, "elastic-bulk needs an index: index=NAME, or the path /<index>/_bulk")
        if not _INDEX.fullmatch(index) or index in (".", ".."):
            raise _invalid(spec, f"{index!r} is not an Elasticsearch index name")
        wire = ElasticBulk(index, credential)
    else:
        wire = OpaUpload(credential)
    return HttpSinkSpec(url, wire, verify)
