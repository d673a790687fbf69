"""The outcome of verifying one image: :class:`Verification` and its reason codes.

Reason codes (stable; docs/images.md "Reasons"):

``verified``
    the policy's attestors are satisfied (``attestor`` names the first that matched);
``no_signature``
    no signature or bundle for the image's digest;
``wrong_key``
    signatures exist but none verifies with the attestors' keys;
``tampered``
    the signed payload was changed after signing (its hash differs from the
    one recorded with the signature);
``digest_mismatch``
    a valid signature names another image digest, or content does not match its digest;
``identity_mismatch``
    a valid signature for another repository, or a certificate of another
    identity or OIDC issuer;
``certificate_expired``
    a keyless signature made when its Fulcio certificate was not valid;
``predicate_mismatch``
    a valid keyless bundle that is not an in-toto attestation of the
    attestor's ``predicateType``;
``annotation_mismatch``
    a valid signature without the annotations the policy asks for;
``invalid_signature``
    a signature or bundle that cannot be read, or a certificate that is not
    valid (expired when signed, not from the trusted Fulcio, no Rekor inclusion or SCT);
``registry_unreachable`` / ``unauthorized`` / ``timeout``
    the registry could not be asked (connection, TLS, 5xx), refused the
    credentials, or did not answer within the time limit;
``registry_error``
    an answer of the registry that is not what the distribution spec allows
    (not JSON, over 4 MiB, an unexpected status);
``image_not_found``
    the tag or digest is not in the registry;
``invalid_reference``
    the image reference is not in the Docker reference grammar;
``no_policy`` / ``unknown_policy``
    no policy of the trust policy applies to the image, or none has the name asked for;
``busy``
    the verification pool's queue was full;
``internal_error``
    an unforeseen error of kubegate (logged with its traceback).

Registry and pool failures (``registry_unreachable``, ``registry_error``, ``unauthorized``,
``timeout``, ``busy``, ``internal_error``) are :data:`TRANSIENT`: they are never cached, and
the caller applies its failure mode to them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

__all__ = ["FAILURE_PRECEDENCE", "TRANSIENT", "VERIFIED", "AttestorOutcome", "Verification", "worst"]

VERIFIED = "verified"
TRANSIENT = frozenset({"registry_unreachable", "registry_error", "unauthorized", "timeout", "busy", "internal_error"})

#: When every attestor fails, the reason reported is the first of these that occurred: a
#: specific problem of a real signature says more than the absence of one.
FAILURE_PRECEDENCE = (
    "timeout",
    "registry_unreachable",
    "unauthorized",
    "registry_error",
    "digest_mismatch",
    "tampered",
    "identity_mismatch",
    "certificate_expired",
    "predicate_mismatch",
    "annotation_mismatch",
    "wrong_key",
    "invalid_signature",
    "no_signature",
)


def worst(reasons: list[str]) -> str:
    """The reason to report among failed ``reasons`` (:data:`FAILURE_PRECEDENCE`; ``no_signature`` if empty)."""
    for reason in FAILURE_PRECEDENCE:
        if reason in reasons:
            return reason
    return reasons[0] if reasons else "no_signature"


@dataclass(frozen=True, slots=True)
class AttestorOutcome:
    """One attestor's result: ``attestor`` name, ``ok``, ``reason`` code and ``message``."""

    attestor: str
    ok: bool
    reason: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"attestor": self.attestor, "ok": self.ok, "reason": self.reason, "message": self.message}


@dataclass(frozen=True, slots=True)
class Verification:
    """The verification of one image against one policy.

    Attributes:
        image: the reference as given.
        digest: ``sha256:<hex>`` the decision is about (``None`` when it could not be resolved).
        verified: whether the policy is satisfied.
        reason: a code of the module docstring (``verified`` when it is).
        message: one sentence naming the image and why.
        policy: the trust policy's policy name (``None`` when none applied).
        attestor: the attestor that matched (the first, for all-of and count).
        required: ``False`` when the policy only records (``required: false``).
        cached: answered from the cache.
        duration_ms: time this call took, in milliseconds.
        attestors: every attestor's outcome (empty when none was tried).
        trust_policy_version: ``sha256:`` version of the trust policy used.
    """

    image: str
    digest: str | None
    verified: bool
    reason: str
    message: str
    policy: str | None = None
    attestor: str | None = None
    required: bool = True
    cached: bool = False
    duration_ms: float = 0.0
    attestors: tuple[AttestorOutcome, ...] = ()
    trust_policy_version: str | None = None

    @property
    def transient(self) -> bool:
        """A registry or pool failure: not an answer about the image (never cached)."""
        return self.reason in TRANSIENT

    def replace(self, **changes: Any) -> Verification:
        """A copy with ``changes`` (``cached``, ``duration_ms``, ``image``...)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON data (camelCase keys, as decision records use)."""
        return {
            "image": self.image,
            "digest": self.digest,
            "verified": self.verified,
            "reason": self.reason,
            "message": self.message,
            "policy": self.policy,
            "attestor": self.attestor,
            "required": self.required,
            "cached": self.cached,
            "durationMs": round(self.duration_ms, 3),
            "attestors": [a.to_dict() for a in self.attestors],
            "trustPolicyVersion": self.trust_policy_version,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Verification:
        """The inverse of :meth:`to_dict` (the Redis tier's decoding)."""
        return cls(
            image=str(data["image"]),
            digest=data.get("digest"),
            verified=bool(data["verified"]),
            reason=str(data["reason"]),
            message=str(data["message"]),
            policy=data.get("policy"),
            attestor=data.get("attestor"),
            required=bool(data.get("required", True)),
            cached=bool(data.get("cached", False)),
            duration_ms=float(data.get("durationMs", 0.0)),
            attestors=tuple(
                AttestorOutcome(str(a["attestor"]), bool(a["ok"]), str(a["reason"]), str(a["message"]))
                for a in data.get("attestors", [])
            ),
            trust_policy_version=data.get("trustPolicyVersion"),
        )
