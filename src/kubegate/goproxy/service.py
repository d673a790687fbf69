"""The gateway's logic: answers each GOPROXY request from the vault, fetching once from upstream.

https://go.dev/ref/mod#goproxy-protocol:

``$module/@v/list``
    known versions, one per line: the upstream's list and the stored
    versions, pseudo-versions and yanked versions left out, and, while the
    module is pinned, the versions above the pin (the go command resolves
    ``go get mod@latest`` from this list, and calls ``@latest`` only when it
    is empty; the hidden versions stay downloadable by exact version).
``$module/@latest``
    the ``.info`` of the version ``@latest`` resolves to: a pin when one is
    set, else the highest release (pre-releases only when there is no
    release; ``+incompatible`` ones only when there is no compatible one)
    that the go.mod of the highest version does not ``retract`` and that is
    not yanked; a module without tagged versions gets the upstream's
    ``@latest``.
``$module/@v/$version.info`` / ``.mod`` / ``.zip``
    canonical versions only (a query such as a branch name is 404, so
    ``kubegate|direct`` may resolve it elsewhere); a yanked version is 410
    with its reason; a ``.zip`` is license-checked on every download and
    a blocked one is 403.

The vault is written before anything is served, and stored objects are
served from it afterwards (upstream down: the vault still answers). Fetches
of one version are single-flight within a process.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry.trace import Span

from kubegate.errors import InputError
from kubegate.goproxy import semver
from kubegate.goproxy.audit import LicenseGate, Verdict, module_input
from kubegate.goproxy.errors import GoproxyError, ModuleBlocked, NotFound, UpstreamError, Withdrawn
from kubegate.goproxy.escape import check_module_path, escape
from kubegate.goproxy.gomod import GoMod, parse_gomod
from kubegate.goproxy.licenses import DETECTOR, LicenseFinding, detect_licenses
from kubegate.goproxy.modzip import MAX_GO_MOD, read_zip
from kubegate.goproxy.tracing import ProxyTracing
from kubegate.goproxy.upstream import Upstream
from kubegate.goproxy.vault import ModuleRecord, Vault

__all__ = ["ModuleProxy", "Served"]

_log = logging.getLogger("kubegate.goproxy")


@dataclass(frozen=True)
class Served:
    """One answer: body, media type, whether it is immutable, and how it was got
    (``hit``: from the vault, ``miss``: fetched now)."""

    body: bytes
    media_type: str
    immutable: bool
    cache: str = "hit"
    verdict: Verdict | None = None


class ModuleProxy:
    """The gateway (thread-safe; its methods block, the ASGI app runs them on threads).

    Args:
        vault: the storage.
        upstream: the upstream chain (may have no URLs: offline, vault only).
        gate: the license gate (``None``: no license check).
        on_fetch: called with ``ok``/``not_found``/``error`` per upstream fetch (metrics).
        tracing: a ``kubegate.goproxy.upstream`` span per upstream fetch.
    """

    def __init__(
        self,
        vault: Vault,
        upstream: Upstream,
        gate: LicenseGate | None,
        on_fetch: Callable[[str], None] | None = None,
        tracing: ProxyTracing | None = None,
    ) -> None:
        self.vault = vault
        self.tracing = tracing
        self.upstream = upstream
        self.gate = gate
        self._on_fetch = on_fetch
        self._locks = tuple(threading.Lock() for _ in range(64))

    # ---- helpers
    def _lock(self, path: str, version: str) -> threading.Lock:
        """One of 64 striped locks: fetches of one version are single-flight."""
        return self._locks[hash((path, version)) % len(self._locks)]

    def _fetch(self, path: str, suffix: str, limit: int) -> tuple[bytes, str]:
        if self.tracing is None:
            return self._fetch_counted(path, suffix, limit, None)
        with self.tracing.upstream(path, suffix) as span:
            return self._fetch_counted(path, suffix, limit, span)

    def _fetch_counted(self, path: str, suffix: str, limit: int, span: Span | None) -> tuple[bytes, str]:
        result = "ok"
        try:
            body, origin = self.upstream.get(path, suffix, limit)
        except NotFound:
            result = "not_found"
            raise
        except Exception:
            result = "error"
            raise
        finally:
            self._count(result)
            if span is not None:
                span.set_attribute("goproxy.result", result)
        return body, origin

    def _count(self, result: str) -> None:
        if self._on_fetch is not None:
            self._on_fetch(result)

    @staticmethod
    def _check_version(path: str, version: str) -> None:
        check_module_path(path)
        if semver.canonical_module_version(version) != version:
            raise NotFound(f"{path}@{version}: not a canonical version (queries are not resolved here)")

    def _withdrawn(self, path: str, version: str) -> None:
        yank = self.vault.yanked(path, version)
        if yank is not None:
            raise Withdrawn(f"{path}@{version} was withdrawn: {yank.get('reason') or 'no reason given'}")

    def _ensure(self, path: str, version: str, want_zip: bool) -> tuple[ModuleRecord, str]:
        """The stored record (fetching what is missing); ``hit`` or ``miss``."""
        record = self.vault.record(path, version)
        if record is not None and (record.zip or not want_zip):
            return record, "hit"
        with self._lock(path, version):
            record = self.vault.record(path, version)
            if record is not None and (record.zip or not want_zip):
                return record, "hit"
            ev = escape(version)
            if record is None:
                info, origin = self._fetch(path, f"@v/{ev}.info", 1 << 20)
                mod, _ = self._fetch(path, f"@v/{ev}.mod", MAX_GO_MOD)
                self._check_info(path, version, info)
            else:
                info, mod, origin = self.vault.blob(record.info), self.vault.blob(record.mod), record.origin
            zip_data = self._fetch(path, f"@v/{ev}.zip", 500 << 20)[0] if want_zip else None
            return self.vault.store(path, version, info, mod, zip_data, origin), "miss"

    @staticmethod
    def _check_info(path: str, version: str, info: bytes) -> None:
        try:
            data = json.loads(info)
        except ValueError:
            raise UpstreamError(f"{path}@{version}: upstream .info is not JSON", code="upstream_invalid") from None
        if not isinstance(data, dict) or data.get("Version") != version:
            raise UpstreamError(f"{path}@{version}: upstream .info names another version", code="upstream_invalid")

    # ---- protocol
    def list_versions(self, path: str) -> list[str]:
        """``@v/list`` (sorted ascending).

        Raises:
            NotFound: the module is unknown here and upstream.
            UpstreamError: upstream failed and nothing is stored.
        """
        check_module_path(path)
        stored = set(self.vault.versions(path))
        listed: set[str] = set()
        known = bool(stored)
        if self.upstream.enabled:
            try:
                body, _ = self._fetch(path, "@v/list", 16 << 20)
                listed = {line.strip() for line in body.decode("utf-8", "replace").splitlines() if line.strip()}
                known = True
            except NotFound:
                pass
            except UpstreamError:
                if not stored:
                    raise
        if not known:
            raise NotFound(f"{path}: unknown module")
        yanked = self.vault.yanks(path)
        pin = self.vault.pinned(path)
        ceiling = str(pin["version"]) if pin is not None else ""
        versions = {
            v
            for v in stored | listed
            if semver.canonical_module_version(v) == v
            and not semver.is_pseudo(v)
            and v not in yanked
            and (not ceiling or semver.compare(v, ceiling) <= 0)
        }
        return semver.sort_versions(versions)

    def latest_version(self, path: str) -> str:
        """The version ``@latest`` resolves to (see the module docstring).

        Raises:
            NotFound, UpstreamError, Withdrawn: as :meth:`list_versions`; nothing to resolve.
        """
        check_module_path(path)
        pin = self.vault.pinned(path)
        if pin is not None:
            return str(pin["version"])
        try:
            versions = self.list_versions(path)
        except NotFound:
            versions = []
        if versions:
            top = versions[-1]
            retracts = self._gomod(path, top)
            usable = [v for v in versions if retracts is None or retracts.retracted(v) is None]
            choice = _pick_latest(usable) or _pick_latest(versions)
            if choice:
                return choice
        body, _ = self._fetch(path, "@latest", 1 << 20)
        try:
            version = str(json.loads(body)["Version"])
        except (ValueError, KeyError, TypeError):
            raise UpstreamError(f"{path}: upstream @latest is not an .info", code="upstream_invalid") from None
        self._withdrawn(path, version)
        return version

    def _gomod(self, path: str, version: str) -> GoMod | None:
        try:
            record, _ = self._ensure(path, version, want_zip=False)
            return parse_gomod(self.vault.blob(record.mod).decode("utf-8", "replace"), f"{path}@{version}/go.mod")
        except (GoproxyError, InputError) as exc:
            _log.info("%s@%s: go.mod not read for retractions: %s", path, version, exc)
            return None

    def latest(self, path: str) -> Served:
        version = self.latest_version(path)
        info = self.info(path, version)
        return Served(info.body, "application/json", immutable=False, cache=info.cache)

    def info(self, path: str, version: str) -> Served:
        self._check_version(path, version)
        self._withdrawn(path, version)
        record, cache = self._ensure(path, version, want_zip=False)
        return Served(self.vault.blob(record.info), "application/json", True, cache)

    def mod(self, path: str, version: str) -> Served:
        self._check_version(path, version)
        self._withdrawn(path, version)
        record, cache = self._ensure(path, version, want_zip=False)
        return Served(self.vault.blob(record.mod), "text/plain; charset=utf-8", True, cache)

    def cached(self, endpoint: str, path: str, version: str) -> Served | None:
        """``.info`` or ``.mod`` from memory alone (record, blob and fresh yank state
        all cached), else ``None``: never blocks, so the app answers it on the event
        loop without a thread hop (what ``.info``/``.mod`` throughput is made of).

        Raises:
            NotFound: not a canonical version.
        """
        if endpoint not in ("info", "mod"):
            return None
        self._check_version(path, version)
        yanks = self.vault.cached_yanks(path)
        record = self.vault.cached_record(path, version)
        if yanks is None or version in yanks or record is None:
            return None
        body = self.vault.cached_blob(record.info if endpoint == "info" else record.mod)
        if body is None:
            return None
        return Served(body, "application/json" if endpoint == "info" else "text/plain; charset=utf-8", True)

    def zip(self, path: str, version: str, trace_id: str = "") -> Served:
        """``.zip``, after the license gate.

        Raises:
            ModuleBlocked: the verdict blocks the download (403, the text the go command prints).
        """
        self._check_version(path, version)
        self._withdrawn(path, version)
        record, cache = self._ensure(path, version, want_zip=True)
        data = self.vault.blob(record.zip)
        verdict = self.audit(record, data, trace_id) if self.gate is not None else None
        if verdict is not None and verdict.blocked and self.gate is not None:
            raise ModuleBlocked(self.gate.blocked_message(verdict), details=verdict.to_dict())
        return Served(data, "application/zip", True, cache, verdict)

    def licenses(self, record: ModuleRecord, data: bytes | None = None) -> tuple[list[LicenseFinding], str]:
        """The license findings of a stored version (cached in the vault per version)."""
        cached = self.vault.audit(record.path, record.version)
        if cached is not None and cached.get("detector") == DETECTOR and cached.get("h1") == record.h1_zip:
            found = [LicenseFinding(x["file"], x["spdx"], float(x["confidence"])) for x in cached["licenses"]]
            return found, str(cached["expression"])
        contents = read_zip(data if data is not None else self.vault.blob(record.zip), record.path, record.version)
        findings, expression = detect_licenses(contents.license_files)
        self.vault.put_audit(
            record.path,
            record.version,
            {
                "detector": DETECTOR,
                "h1": record.h1_zip,
                "licenses": [f.to_dict() for f in findings],
                "expression": expression,
            },
        )
        return list(findings), expression

    def audit(self, record: ModuleRecord, data: bytes | None = None, trace_id: str = "") -> Verdict:
        """Evaluates the license policy for a stored version and records the verdict."""
        assert self.gate is not None
        findings, expression = self.licenses(record, data)
        go_mod: dict[str, Any] | None = None
        try:
            go_mod = parse_gomod(self.vault.blob(record.mod).decode("utf-8", "replace")).to_input()
        except InputError:
            go_mod = None
        retraction = None
        stored = self.vault.versions(record.path)
        if stored:
            top = semver.sort_versions(stored)[-1]
            gm = self._gomod(record.path, top) if top != record.version else None
            own = parse_gomod(self.vault.blob(record.mod).decode("utf-8", "replace")) if go_mod else None
            for source in (gm, own):
                hit = source.retracted(record.version) if source is not None else None
                if hit is not None:
                    retraction = hit.rationale or "retracted"
                    break
        module = module_input(record.path, record.version, findings, expression, go_mod, retraction, record.origin)
        verdict = self.gate.decide(module, trace_id)
        cached = self.vault.audit(record.path, record.version) or {}
        summary = {
            "verdict": verdict.verdict,
            "blocked": verdict.blocked,
            "reasons": list(verdict.reasons),
            "policies": [{"id": p["id"], "version": p["version"]} for p in verdict.policies],
            "policySetVersion": verdict.policy_set_version,
        }
        if cached.get("verdict") != summary:
            self.vault.put_audit(record.path, record.version, {**cached, "verdict": summary})
        return verdict


def _pick_latest(versions: list[str]) -> str:
    """Highest release, else highest pre-release; ``+incompatible`` only when nothing else."""
    for allow_incompatible in (False, True):
        pool = [v for v in versions if allow_incompatible or not v.endswith("+incompatible")]
        releases = [v for v in pool if not semver.prerelease(v)]
        if releases:
            return releases[-1]
        if pool:
            return pool[-1]
    return ""
