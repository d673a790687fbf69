"""``kubegate.image.verify`` and ``kubegate.image.digest``: image signature verification results for Rego.

kubegate's own builtins (not OPA's; declared in :mod:`.signatures` beside
OPA's). They never reach a registry: evaluation does no I/O. The gates
verify every image of the reviewed object *before* evaluation, on the
verifier's own bounded pool under its own time limit
(:mod:`kubegate.images.prefetch`), and hand the results to the evaluating
thread with :func:`use_image_results`; the builtins only read them.

``kubegate.image.verify(image, policy_name)`` answers an object::

    {"verified": bool, "digest": "sha256:..." | null, "reason": "verified" | "no_signature" | ...,
     "message": "...", "attestor": "release" | null, "cached": bool, "required": bool,
     "policy": "payments" | null}

``policy_name`` names a policy of the trust policy file; ``""`` means the
first policy whose image globs match (what the prefetch verifies by
default). Reasons are those of :mod:`kubegate.images.result` plus three of
the builtin's own:

``not_configured``
    no image verification is configured for this evaluation (no trust
    policy: ``--image-policy`` / ``Engine(image_verifier=...)``);
``offline``
    verification was skipped on purpose (``kubegate check --offline``);
``not_verified``
    verification is configured but this image (with this policy name) was
    not among the prefetched results (e.g. an image string the policy
    computed, or a policy name no policy of the set names literally).

``kubegate.image.digest(image)`` is the ``sha256:`` digest the image
resolved to during the prefetch (or the digest the reference itself pins),
undefined otherwise.

The compiled backend (the default) only: rego-cpp has no such builtins, and
a policy calling them is refused at load time on ``--backend regopy``
(``rego_type_error`` "undefined function"; the built-in
``pci-image-signature`` is left out with the warning
``builtin_needs_compiled_backend`` instead).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from kubegate.evaluator.builtins.registry import arg_string, implements
from kubegate.evaluator.values import UNDEF

__all__ = [
    "BUILTIN_NAMES",
    "ImageResults",
    "current_image_results",
    "digest",
    "use_image_results",
    "verify",
]

#: The names of this family, for callers that look for policies using it.
BUILTIN_NAMES = frozenset({"kubegate.image.verify", "kubegate.image.digest"})

_DIGEST = re.compile(r"@(sha256:[a-f0-9]{64})$")
_local = threading.local()


def _answer(
    reason: str,
    message: str,
    *,
    verified: bool = False,
    digest: str | None = None,
    attestor: str | None = None,
    cached: bool = False,
    required: bool = True,
    policy: str | None = None,
) -> dict[str, Any]:
    return {
        "verified": verified,
        "digest": digest,
        "reason": reason,
        "message": message,
        "attestor": attestor,
        "cached": cached,
        "required": required,
        "policy": policy,
    }


@dataclass(frozen=True, slots=True)
class ImageResults:
    """Prefetched verification answers for one review (immutable).

    Attributes:
        answers: ``(image, policy name)`` -> the builtin's answer object (see
            the module docstring); policy name ``""`` is "the first policy
            whose globs match".
        offline: verification was skipped on purpose: every call answers ``offline``.
    """

    answers: Mapping[tuple[str, str], Mapping[str, Any]] = field(default_factory=lambda: MappingProxyType({}))
    offline: bool = False

    def lookup(self, image: str, policy_name: str) -> dict[str, Any]:
        """The answer for ``image`` under ``policy_name`` (a fresh dict)."""
        if self.offline:
            return _answer("offline", f"{image}: not verified: image verification is off (offline)")
        found = self.answers.get((image, policy_name))
        if found is None and policy_name:
            # Verifying with the policy the globs chose is verifying with that policy's name.
            auto = self.answers.get((image, ""))
            if auto is not None and auto.get("policy") == policy_name:
                found = auto
        if found is None:
            name = f" with policy {policy_name!r}" if policy_name else ""
            return _answer("not_verified", f"{image}: was not verified{name} before evaluation")
        return dict(found)

    def digest_of(self, image: str) -> str | None:
        """The digest ``image`` resolved to in any prefetched answer, else the one it pins."""
        for (name, _), answer in self.answers.items():
            if name == image and answer.get("digest"):
                return str(answer["digest"])
        pinned = _DIGEST.search(image)
        return pinned.group(1) if pinned else None


def current_image_results() -> ImageResults | None:
    """The results :func:`use_image_results` set on this thread, or ``None``."""
    found: ImageResults | None = getattr(_local, "results", None)
    return found


@contextmanager
def use_image_results(results: ImageResults | None) -> Iterator[None]:
    """Makes ``results`` what the builtins answer from on this thread, for the ``with`` block.

    ``None`` means "not configured" (every ``verify`` answers ``not_configured``).
    Nested uses restore the outer results on exit.
    """
    previous = getattr(_local, "results", None)
    _local.results = results
    try:
        yield
    finally:
        _local.results = previous


@implements("kubegate.image.verify")
def verify(image: Any, policy_name: Any) -> dict[str, Any]:
    """``kubegate.image.verify(image, policy_name)``: the prefetched answer (module docstring).

    Raises:
        OperandTypeError: an operand is not a string.
    """
    ref = arg_string(image, 1)
    name = arg_string(policy_name, 2)
    results = current_image_results()
    if results is None:
        return _answer("not_configured", f"{ref}: not verified: no image trust policy is configured")
    return results.lookup(ref, name)


@implements("kubegate.image.digest")
def digest(image: Any) -> Any:
    """``kubegate.image.digest(image)``: the resolved ``sha256:`` digest, or undefined.

    Raises:
        OperandTypeError: the operand is not a string.
    """
    ref = arg_string(image, 1)
    results = current_image_results()
    found = results.digest_of(ref) if results is not None else None
    if found is None:
        pinned = _DIGEST.search(ref)
        found = pinned.group(1) if pinned else None
    return found if found is not None else UNDEF
