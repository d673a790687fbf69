"""Rollout declarations: a new policy version as a canary or in shadow.

A policy declares how its *current* version rolls out:

* ConstraintTemplate constraints: the annotation ``kubegate.io/rollout``;
* Rego: ``custom.rollout`` in METADATA;
* DSL: ``ROLLOUT CANARY 10% [BY NAMESPACE]`` or ``ROLLOUT SHADOW``.

The value is checked when the policy is loaded (``invalid_rollout``).
Values: ``"canary N%"`` (N in 0..100, split by request uid) or ``"canary N% by
namespace"``, and ``"shadow"``. While declared, the version is the
*candidate* and the last version served without a declaration stays
*stable*: a canary decides N% of requests (the same uid or namespace always
lands on the same side, so a retried request gets the same version), a
shadow candidate is evaluated on every request next to the enforced stable
version and its disagreements are logged and counted. Removing the
declaration promotes the candidate.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kubegate.errors import PolicyLoadError
from kubegate.policy.units import Policy

__all__ = ["Rollout", "parse_rollout", "rollout_of"]

_CANARY = re.compile(r"^canary\s+(\d{1,3})\s*%(?:\s+by\s+(uid|namespace))?$")


@dataclass(frozen=True)
class Rollout:
    """How a candidate version is rolled out.

    Attributes:
        strategy: ``canary`` or ``shadow``.
        percent: share of requests the canary decides (0-100).
        by: what the canary split hashes: the request ``uid`` or its ``namespace``.
    """

    strategy: Literal["canary", "shadow"]
    percent: int = 0
    by: Literal["uid", "namespace"] = "uid"

    def describe(self) -> str:
        if self.strategy == "shadow":
            return "shadow"
        return f"canary {self.percent}%" + (" by namespace" if self.by == "namespace" else "")

    def selects(self, review: Mapping[str, Any]) -> bool:
        """Whether a canary decides ``review`` (deterministic: sha256 of the uid or namespace)."""
        if self.strategy != "canary":
            return False
        key = str(review.get("namespace") or "") if self.by == "namespace" else str(review.get("uid") or "")
        bucket = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") % 100
        return bucket < self.percent


def parse_rollout(value: Any, where: str = "rollout") -> Rollout:
    """Reads a rollout declaration.

    Raises:
        PolicyLoadError: ``invalid_rollout`` for anything but ``canary N%``,
            ``canary N% by uid|namespace`` or ``shadow``.
    """
    text = str(value).strip().lower() if isinstance(value, str) else ""
    if text == "shadow":
        return Rollout("shadow")
    found = _CANARY.match(text)
    if found and int(found.group(1)) <= 100:
        if found.group(2) == "namespace":
            return Rollout("canary", int(found.group(1)), "namespace")
        return Rollout("canary", int(found.group(1)), "uid")
    raise PolicyLoadError(
        f'{where}: {value!r} is not a rollout; use "canary N%", "canary N% by namespace" or "shadow"',
        code="invalid_rollout",
    )


def rollout_of(policy: Policy) -> Rollout | None:
    """The rollout a policy version declares, if any.

    Raises:
        PolicyLoadError: ``invalid_rollout`` (located at the policy).
    """
    value = policy.metadata.get("rollout") if isinstance(policy.metadata, Mapping) else None
    if value is None:
        return None
    try:
        return parse_rollout(value, f"policy {policy.id}")
    except PolicyLoadError as exc:
        raise PolicyLoadError(exc.message, policy.location, code=exc.code) from None
