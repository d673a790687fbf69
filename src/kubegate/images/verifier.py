"""The verifier: an image reference and a policy name in, a :class:`~.result.Verification` out.

:meth:`Verifier.verify` resolves the reference to its digest (a tag costs
one manifest request; the decision names the digest), looks the result up
in the cache (digest + repository + trust policy version + policy name), and otherwise
checks the policy's attestors, concurrent callers of one key sharing one
check. :meth:`Verifier.verify_many` runs several verifications on the
verifier's own bounded thread pool, so a slow registry holds these threads
and never the caller's; past the deadline the unfinished ones are answered
``timeout`` and the caller applies its failure mode (they go on in the
background until their request time limits, and fill the cache if they
end). Nothing the registry or an image holds raises: every problem is a
reason code.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures

from kubegate.images import bundles, cosign
from kubegate.images.cache import SingleFlight, VerificationCache, cache_key
from kubegate.images.errors import ImageReferenceError, RegistryError
from kubegate.images.reference import ImageReference, parse_reference
from kubegate.images.registry import RegistryClient
from kubegate.images.result import VERIFIED, AttestorOutcome, Verification, worst
from kubegate.images.trust_policy import ImagePolicy, KeyAttestor, TrustPolicy

__all__ = ["Verifier"]

_log = logging.getLogger("kubegate.images")


class _Evidence:
    """What one image's attestors are checked against, fetched once and only when needed."""

    def __init__(self, client: RegistryClient, ref: ImageReference) -> None:
        self.client, self.ref = client, ref
        self._signatures: list[cosign.SimpleSignature] | None = None
        self._bundles: list[bytes] | None = None

    def signatures(self) -> list[cosign.SimpleSignature]:
        if self._signatures is None:
            self._signatures = cosign.fetch_signatures(self.client, self.ref.repository, str(self.ref.digest))
        return self._signatures

    def bundles(self) -> list[bytes]:
        if self._bundles is None:
            self._bundles = bundles.fetch_bundles(self.client, self.ref.repository, str(self.ref.digest))
        return self._bundles


class Verifier:
    """Verifies images against a :class:`~.trust_policy.TrustPolicy`.

    Args:
        trust_policy: the parsed trust policy (:func:`~.policy_file.load_trust_policy`).
        cache: where results are kept (a memory-only one by default).
        workers: threads of the verification pool (``verify_many``).
        max_pending: verifications queued or running at most; more are answered ``busy``.
        clock: monotonic seconds; deadlines are on this clock.
    """

    def __init__(
        self,
        trust_policy: TrustPolicy,
        *,
        cache: VerificationCache | None = None,
        workers: int = 4,
        max_pending: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.trust_policy = trust_policy
        self.cache = cache if cache is not None else VerificationCache()
        self._clock = clock
        self._clients: dict[str, RegistryClient] = {}
        self._lock = threading.Lock()
        self._flights = SingleFlight()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kubegate-image")
        self._slots = threading.BoundedSemaphore(max_pending)

    def close(self) -> None:
        """Stops the pool (running verifications end on their own time limits)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    def client(self, host: str) -> RegistryClient:
        """The (shared) registry client of ``host``."""
        with self._lock:
            found = self._clients.get(host)
            if found is None:
                found = RegistryClient(self.trust_policy.registry(host), host)
                self._clients[host] = found
            return found

    # ------------------------------------------------------------------ digests

    def digest(self, image_ref: str, deadline: float | None = None) -> str:
        """The ``sha256:`` digest ``image_ref`` names (its own digest, or its tag's manifest's).

        Args:
            image_ref: an image reference.
            deadline: monotonic seconds by which to answer, or ``None``.

        Raises:
            ImageReferenceError: ``image_reference_invalid``, ``image_digest_unsupported``.
            RegistryError: ``not_found``, ``registry_unreachable``, ``unauthorized``, ``timeout`` ...
        """
        return str(self._resolve(parse_reference(image_ref), deadline).digest)

    def _resolve(self, ref: ImageReference, deadline: float | None) -> ImageReference:
        if ref.digest is not None:
            return ref
        client = self.client(ref.registry)
        with client.deadline(deadline):
            return ref.with_digest(client.manifest(ref.repository, ref.reference).digest)

    # ------------------------------------------------------------------ verification

    def verify(self, image_ref: str, policy_name: str | None = None, deadline: float | None = None) -> Verification:
        """Verifies one image.

        Args:
            image_ref: the reference as the Pod spec has it.
            policy_name: the trust policy's policy to apply; ``None``: the
                first whose image globs match.
            deadline: monotonic seconds (:func:`time.monotonic`) by which to
                answer; ``None``: only the registry's request time limits apply.

        Returns:
            A :class:`Verification` (never raises for bad input or registry trouble).
        """
        start = self._clock()
        try:
            result = self._verify(image_ref, policy_name, deadline)
        except Exception as exc:  # one image must never end a review: logged, answered, not cached
            _log.exception("verification of %r failed unexpectedly", image_ref)
            result = Verification(
                str(image_ref),
                None,
                False,
                "internal_error",
                f"{image_ref}: internal error: {type(exc).__name__}",
                policy_name,
                trust_policy_version=self.trust_policy.version,
            )
        return result.replace(duration_ms=(self._clock() - start) * 1000.0)

    def _verify(self, image_ref: str, policy_name: str | None, deadline: float | None) -> Verification:
        version = self.trust_policy.version
        try:
            ref = parse_reference(image_ref)
        except ImageReferenceError as exc:
            return Verification(
                str(image_ref), None, False, "invalid_reference", exc.message, trust_policy_version=version
            )
        policy = self.trust_policy.policy(policy_name) if policy_name else self.trust_policy.match(ref)
        if policy is None:
            reason = "unknown_policy" if policy_name else "no_policy"
            text = f"no policy named {policy_name!r}" if policy_name else "no policy of the trust policy applies"
            return Verification(
                image_ref,
                ref.digest,
                False,
                reason,
                f"{image_ref}: {text}",
                policy_name,
                None,
                trust_policy_version=version,
            )
        failed = Verification(
            image_ref,
            ref.digest,
            False,
            "no_policy",
            "",
            policy.name,
            None,
            policy.required,
            trust_policy_version=version,
        )
        if not policy.applies_to(ref):
            return failed.replace(message=f"{image_ref}: not matched by the image globs of policy {policy.name!r}")
        try:
            ref = self._resolve(ref, deadline)
        except RegistryError as exc:
            reason = "image_not_found" if exc.code == "not_found" else exc.code
            return failed.replace(reason=reason, message=f"{image_ref}: {exc.message}")
        key = cache_key(str(ref.digest), ref.name, version, policy.name)
        hit = self.cache.get(key)
        if hit is not None:
            return hit.replace(image=image_ref, cached=True)
        left = None if deadline is None else max(0.0, deadline - self._clock())
        try:
            result, _ = self._flights.run(key, lambda: self._check(ref, policy, deadline), left)
        except TimeoutError:
            return failed.replace(digest=ref.digest, reason="timeout", message=f"{image_ref}: verification timed out")
        return result.replace(image=image_ref)

    def _check(self, ref: ImageReference, policy: ImagePolicy, deadline: float | None) -> Verification:
        client = self.client(ref.registry)
        evidence = _Evidence(client, ref)
        outcomes: list[AttestorOutcome] = []
        with client.deadline(deadline):
            for attestor in policy.attestors:
                try:
                    if isinstance(attestor, KeyAttestor):
                        outcome = cosign.check_key_attestor(evidence.signatures(), attestor, ref, policy.annotations)
                    else:
                        outcome = bundles.check_keyless_attestor(evidence.bundles(), attestor, ref, policy.annotations)
                except RegistryError as exc:
                    reason = "no_signature" if exc.code == "not_found" else exc.code
                    outcome = AttestorOutcome(attestor.name, False, reason, exc.message)
                outcomes.append(outcome)
                passed = sum(o.ok for o in outcomes)
                failed = len(outcomes) - passed
                if passed >= policy.count or failed > len(policy.attestors) - policy.count:
                    break
        result = self._decide(ref, policy, outcomes)
        if not result.transient:
            ttl = self.trust_policy.verified_ttl_s if result.verified else self.trust_policy.failed_ttl_s
            key = cache_key(str(ref.digest), ref.name, self.trust_policy.version, policy.name)
            self.cache.put(key, result, ttl)
        return result

    def _decide(self, ref: ImageReference, policy: ImagePolicy, outcomes: list[AttestorOutcome]) -> Verification:
        passed = [o for o in outcomes if o.ok]
        base = Verification(
            ref.original,
            ref.digest,
            False,
            "",
            "",
            policy.name,
            None,
            policy.required,
            attestors=tuple(outcomes),
            trust_policy_version=self.trust_policy.version,
        )
        if len(passed) >= policy.count:
            names = ", ".join(o.attestor for o in passed)
            return base.replace(
                verified=True,
                reason=VERIFIED,
                attestor=passed[0].attestor,
                message=f"{ref.original} ({ref.digest}) verified by {names}",
            )
        failures = [o for o in outcomes if not o.ok]
        reason = worst([o.reason for o in failures])
        first = next(o for o in failures if o.reason == reason)
        need = f" ({len(passed)} of {policy.count} attestors)" if policy.count > 1 else ""
        return base.replace(reason=reason, message=f"{ref.original} ({ref.digest}): {reason}{need}: {first.message}")

    # ------------------------------------------------------------------ many

    def verify_many(
        self, image_refs: Sequence[str], policy_name: str | None = None, deadline: float | None = None
    ) -> list[Verification]:
        """Verifies several images on the verifier's pool, answering by ``deadline``.

        Args:
            image_refs: references; duplicates are verified once.
            policy_name: as :meth:`verify`.
            deadline: monotonic seconds; verifications not done by then are
                answered with reason ``timeout``; ``None``: wait for all.

        Returns:
            One :class:`Verification` per reference, in order.
        """
        futures: dict[str, Future[Verification]] = {}
        early: dict[str, Verification] = {}
        for image in dict.fromkeys(image_refs):
            if not self._slots.acquire(blocking=False):
                early[image] = Verification(
                    image,
                    None,
                    False,
                    "busy",
                    f"{image}: the verification queue is full",
                    policy_name,
                    trust_policy_version=self.trust_policy.version,
                )
                continue
            try:
                future = self._pool.submit(self.verify, image, policy_name, deadline)
            except RuntimeError:
                self._slots.release()
                early[image] = Verification(image, None, False, "busy", f"{image}: the verifier is closed", policy_name)
                continue
            future.add_done_callback(lambda _f: self._slots.release())
            futures[image] = future
        timeout = None if deadline is None else max(0.0, deadline - self._clock())
        wait_futures(list(futures.values()), timeout=timeout)
        results: dict[str, Verification] = dict(early)
        for image, future in futures.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                results[image] = future.result()
            else:
                results[image] = Verification(
                    image,
                    None,
                    False,
                    "timeout",
                    f"{image}: not verified within the time limit",
                    policy_name,
                    trust_policy_version=self.trust_policy.version,
                )
        return [results[image] for image in image_refs]
