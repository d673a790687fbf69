"""Container image signature verification (docs/images.md).

Registry access (oras-py), cosign key-based signatures, Sigstore bundles,
trust policies and a result cache. The entry point is :class:`Verifier`::

    policy = load_trust_policy("trust-policy.yaml")
    verifier = Verifier(policy)
    result = verifier.verify("registry.bank.internal/payments/api:1.4", "payments")
    result.verified, result.reason, result.digest

This package sits beside ``kubegate.cel`` and ``kubegate.dsl``: it imports
only ``kubegate.errors``, ``kubegate.yamlio`` and third-party libraries.
"""

from kubegate.images.cache import VerificationCache, cache_key
from kubegate.images.errors import ImageError, ImageReferenceError, PublicKeyError, RegistryError, TrustPolicyError
from kubegate.images.keys import PublicKey, load_public_key
from kubegate.images.policy_file import load_trust_policy, parse_trust_policy
from kubegate.images.reference import ImageReference, parse_reference
from kubegate.images.result import TRANSIENT, VERIFIED, AttestorOutcome, Verification
from kubegate.images.trust_policy import ImagePolicy, KeyAttestor, KeylessAttestor, RegistryConfig, TrustPolicy
from kubegate.images.verifier import Verifier

__all__ = [
    "TRANSIENT",
    "VERIFIED",
    "AttestorOutcome",
    "ImageError",
    "ImagePolicy",
    "ImageReference",
    "ImageReferenceError",
    "KeyAttestor",
    "KeylessAttestor",
    "PublicKey",
    "PublicKeyError",
    "RegistryConfig",
    "RegistryError",
    "TrustPolicy",
    "TrustPolicyError",
    "Verification",
    "VerificationCache",
    "Verifier",
    "cache_key",
    "load_public_key",
    "load_trust_policy",
    "parse_reference",
    "parse_trust_policy",
]
