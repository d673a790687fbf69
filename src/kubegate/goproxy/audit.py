"""The license auditor: a kubegate policy decides each module version.

The input is ``{"module": {...}, "now": RFC 3339}`` with ``input.module`` as
:func:`module_input` builds it (``path``, ``version``, ``licenses`` with
``file``/``spdx``/``confidence``/``choices``, ``expression``, ``go_mod``,
``retracted``, ``origin``). Each configured policy is evaluated with
:meth:`kubegate.engine.engine.Engine.evaluate` (the built-in
``go-module-license-allowlist`` by default; Rego or DSL policies of the
user's may replace or join it). A violation's ``details.verdict`` says
``REJECT`` or ``REVIEW_REQUIRED`` (a violation without one rejects); the
worst one is the verdict, ``PASS`` when there is none.

Enforcement (the built-in's ``enforcement`` parameter, and each violation's
own): ``deny`` blocks (403), ``warn`` serves with a logged warning,
``dryrun`` only records. Every verdict is one decision record
(path ``kubegate/goproxy/license``) through the
:class:`~kubegate.audit.logger.DecisionLogger`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from kubegate.audit.logger import DecisionLogger
from kubegate.audit.record import DecisionFacts
from kubegate.engine.decision import Decision
from kubegate.engine.engine import Engine
from kubegate.errors import UsageError
from kubegate.goproxy.licenses import LicenseFinding, choices
from kubegate.policy.catalog import RegoFile

__all__ = [
    "BUILTIN_POLICY",
    "LicenseGate",
    "Verdict",
    "build_engine",
    "builtin_policy_source",
    "module_input",
]

BUILTIN_POLICY = "go-module-license-allowlist"
RECORD_PATH = "kubegate/goproxy/license"
_RANK = {"PASS": 0, "REVIEW_REQUIRED": 1, "REJECT": 2}
_log = logging.getLogger("kubegate.goproxy.audit")


def builtin_policy_source() -> RegoFile:
    """The built-in ``go-module-license-allowlist`` (package data of kubegate.goproxy)."""
    text = resources.files("kubegate.goproxy").joinpath("policies/go_module_license_allowlist.rego").read_text("utf-8")
    return RegoFile("builtin:go_module_license_allowlist.rego", text)


def build_engine(
    policies: Iterable[str] = (), parameters: Mapping[str, Mapping[str, Any]] | None = None, **kwargs: Any
) -> Engine:
    """An engine with the built-in license policy and the user's ``policies`` (paths).

    Raises:
        ErrorList: a policy that does not load (the engine is built strictly).
    """
    return Engine(
        list(policies),
        [builtin_policy_source()],
        builtin=False,
        expansion=False,
        parameters=parameters,
        strict=True,
        **kwargs,
    )


def module_input(
    path: str,
    version: str,
    findings: Sequence[LicenseFinding],
    expression: str,
    go_mod: Mapping[str, Any] | None,
    retracted: str | None,
    origin: str,
) -> dict[str, Any]:
    """``input.module`` (see the module docstring); ``retracted`` is the rationale or ``None``."""
    return {
        "path": path,
        "version": version,
        "licenses": [{**f.to_dict(), "choices": choices(f.spdx)} for f in findings],
        "expression": expression,
        "choices": choices(expression),
        "go_mod": dict(go_mod or {}),
        "retracted": retracted is not None,
        "retraction": retracted or "",
        "origin": origin,
    }


@dataclass(frozen=True)
class Verdict:
    """The outcome for one module version.

    Attributes:
        verdict: ``PASS``, ``REJECT`` or ``REVIEW_REQUIRED``.
        blocked: the download is refused (a ``deny``-enforced non-PASS verdict).
        enforcement: ``deny``, ``warn`` or ``dryrun`` as applied.
        reasons: the violations' messages (``policy: message``).
        warnings: warn-rule messages (exceptions used or expired).
        policies: ``{"id", "version", "allowed"}`` per evaluated policy.
        policy_set_version: the engine's policy-set version.
    """

    module: str
    version: str
    verdict: str
    blocked: bool
    enforcement: str
    reasons: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    policies: tuple[Mapping[str, Any], ...] = ()
    policy_set_version: str = ""
    licenses: tuple[Mapping[str, Any], ...] = field(default_factory=tuple)
    expression: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "version": self.version,
            "verdict": self.verdict,
            "blocked": self.blocked,
            "enforcement": self.enforcement,
            "reasons": list(self.reasons),
            "warnings": list(self.warnings),
            "policies": [dict(p) for p in self.policies],
            "policySetVersion": self.policy_set_version,
            "licenses": [dict(x) for x in self.licenses],
            "expression": self.expression,
        }


class LicenseGate:
    """Evaluates the license policies and records every verdict.

    Raises:
        UsageError: ``unknown_policy`` for a policy id the engine lacks.

    Args:
        engine: loaded with the policies (:func:`build_engine`).
        policy_ids: the policies deciding (default: the built-in).
        decision_log: where verdicts are recorded (``None``: not recorded).
        exception_contact: shown in the 403 text: how to request an exception.
        clock: seconds since the epoch (``input.now``); tests pass a fixed one.
    """

    def __init__(
        self,
        engine: Engine,
        policy_ids: Sequence[str] = (BUILTIN_POLICY,),
        decision_log: DecisionLogger | None = None,
        exception_contact: str = "ask the platform team to add an exception to the go-module-license-allowlist policy",
        clock: Any = time.time,
    ) -> None:
        self.engine = engine
        self.policy_ids = tuple(policy_ids)
        self.decision_log = decision_log
        self.exception_contact = exception_contact
        self.clock = clock
        for pid in self.policy_ids:
            if engine.prepared.policy(pid) is None:
                raise UsageError(f"no license policy with id {pid!r}", code="unknown_policy")

    def _enforcement(self, policy_id: str) -> str:
        policy = self.engine.prepared.policy(policy_id)
        params = policy.parameters if policy is not None and policy.parameters else {}
        value = params.get("enforcement", "deny")
        return value if value in ("deny", "warn", "dryrun") else "deny"

    def decide(self, module: Mapping[str, Any], trace_id: str = "") -> Verdict:
        """Evaluates ``module`` (an ``input.module``) and records the verdict.

        Raises:
            EvaluationError: a policy failed (the caller fails closed).
            LogFull, RecordError, OSError: the record could not be written.
        """
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock()))
        policy_input = {"module": dict(module), "now": now}
        worst = "PASS"
        blocked = False
        applied = "dryrun"
        reasons: list[str] = []
        warnings: list[str] = []
        decisions: list[Decision] = []
        for pid in self.policy_ids:
            decision = self.engine.evaluate(pid, policy_input)
            decisions.append(decision)
            gate_enforcement = self._enforcement(pid)
            if decision.error:
                worst, blocked = "REJECT", True
                reasons.append(f"{pid}: evaluation failed: {decision.error}")
                continue
            for v in decision.violations:
                details = v.details if isinstance(v.details, Mapping) else {}
                verdict = str(details.get("verdict", "REJECT"))
                if verdict not in _RANK:
                    verdict = "REJECT"
                if v.rule.startswith("warn") or verdict == "PASS":
                    warnings.append(f"{pid}: {v.message}")
                    continue
                enforcement = gate_enforcement if v.enforcement == "deny" else v.enforcement
                if _RANK[verdict] > _RANK[worst]:
                    worst = verdict
                reasons.append(f"{pid}: {v.message}")
                if enforcement == "deny":
                    blocked = True
                applied = max(applied, enforcement, key=("dryrun", "warn", "deny").index)
        result = Verdict(
            module=str(module.get("path", "")),
            version=str(module.get("version", "")),
            verdict=worst,
            blocked=blocked,
            enforcement=applied if worst != "PASS" else "none",
            reasons=tuple(reasons),
            warnings=tuple(warnings),
            policies=tuple(
                {"id": d.policy, "version": d.version, "allowed": d.allowed, "durationMs": round(d.duration_ms, 3)}
                for d in decisions
            ),
            policy_set_version=self.engine.version,
            licenses=tuple(module.get("licenses", ())),
            expression=str(module.get("expression", "")),
        )
        if worst != "PASS" and not blocked:
            _log.warning("%s@%s: %s (%s, not blocked)", result.module, result.version, worst, "; ".join(reasons))
        self._record(result, policy_input, decisions, trace_id)
        return result

    def _record(self, verdict: Verdict, policy_input: Mapping[str, Any], decisions: list[Decision], trace: str) -> None:
        logger = self.decision_log
        if logger is None or not logger.enabled:
            return
        review = {
            "uid": trace,
            "kind": {"group": "", "version": "", "kind": "GoModule"},
            "name": f"{verdict.module}@{verdict.version}",
            "operation": "DOWNLOAD",
            "object": dict(policy_input),
        }
        spdx = sorted({str(x.get("spdx", "")) for x in verdict.licenses})
        facts = DecisionFacts(
            allowed=not verdict.blocked,
            violations=tuple(
                {"policy": v.policy, "enforcement": v.enforcement, "message": v.message}
                for d in decisions
                for v in d.violations
            ),
            policies=verdict.policies,
            policy_set_version=verdict.policy_set_version,
            duration_ns=int(sum(d.duration_ms for d in decisions) * 1e6),
            message=f"{verdict.verdict}: " + "; ".join(verdict.reasons) if verdict.reasons else "",
            warnings=verdict.warnings,
            audit_annotations={
                "goproxy/module": verdict.module,
                "goproxy/version": verdict.version,
                "goproxy/verdict": verdict.verdict,
                "goproxy/enforcement": verdict.enforcement,
                "goproxy/licenses": ",".join(spdx) or "none",
                "goproxy/expression": verdict.expression or "UNKNOWN",
            },
        )
        logger.record(review, facts, path=RECORD_PATH)

    def blocked_message(self, verdict: Verdict) -> str:
        """The ``text/plain`` body of a 403 (the go command prints it after ``server response:``)."""
        licenses = ", ".join(f"{x.get('spdx')} ({x.get('file') or 'no license file'})" for x in verdict.licenses)
        policies = ", ".join(f"{p['id']}@{str(p['version'])[:12]}" for p in verdict.policies)
        lines = [
            f"kubegate: {verdict.module}@{verdict.version} is blocked by the license policy: {verdict.verdict}.",
            f"licenses found: {licenses or 'none'}",
            *(f"reason: {r}" for r in verdict.reasons),
            f"policy: {policies}",
            f"to request an exception: {self.exception_contact}",
        ]
        return "\n".join(lines) + "\n"
