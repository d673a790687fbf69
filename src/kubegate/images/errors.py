"""Errors of image verification (all :class:`~kubegate.errors.KubegateError`, stable codes).

Configuration problems (a trust policy file, a key, a reference) raise;
what a registry or a signature answers does not: it becomes a
:class:`~kubegate.images.result.Verification` with a reason code, so one
bad image never ends a review.
"""

from __future__ import annotations

from kubegate.errors import KubegateError

__all__ = ["ImageError", "ImageReferenceError", "PublicKeyError", "RegistryError", "TrustPolicyError"]


class ImageError(KubegateError):
    """Root of the errors of :mod:`kubegate.images`."""

    code = "image_error"


class ImageReferenceError(ImageError):
    """An image reference outside the Docker reference grammar (``image_reference_invalid``)."""

    code = "image_reference_invalid"


class TrustPolicyError(ImageError):
    """A malformed trust policy file, located at file:line:col (``trust_policy_invalid`` and others)."""

    code = "trust_policy_invalid"


class PublicKeyError(ImageError):
    """A public key that cannot be read or is of an unsupported type (``key_invalid``)."""

    code = "key_invalid"


class RegistryError(ImageError):
    """A registry request that failed; ``code`` is the verification reason it maps to.

    Codes: ``registry_unreachable`` (connection refused, TLS failure, 5xx),
    ``unauthorized`` (401/403 after authenticating), ``timeout`` (the
    request or the verification's deadline passed), ``not_found`` (404; a
    missing signature is not an error of the registry), ``registry_error``
    (any other unexpected answer).
    """

    code = "registry_error"
