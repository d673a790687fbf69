"""Verifying the images of an object before it is evaluated (the gates' side of ``kubegate.image.verify``).

Evaluation does no I/O: the ``kubegate.image.*`` builtins
(:mod:`kubegate.evaluator.builtins.kubegate_image`) only read results
prefetched here. For one object:

1. :func:`object_images` collects every image of a Pod or of a workload's
   pod template (``containers``, ``initContainers``, ``ephemeralContainers``;
   Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController,
   Job, CronJob, as ``kubegate.library.workloads`` finds them);
2. :func:`policy_names` reads, once per policy set, which trust policy names
   its policies pass as a literal second argument of ``kubegate.image.verify``
   (``""``, the policy chosen by the image globs, is always verified); a
   name given through a parameter (pci-image-signature's ``policy``) is found
   among the string parameters of the policies calling the builtin that name
   a policy of the trust policy;
3. :class:`ImagePrefetcher` verifies every (image, name) with
   :meth:`~kubegate.images.verifier.Verifier.verify_many` under its own time
   limit (ms), on the verifier's bounded pool, and returns a
   :class:`Prefetch`: the verifications and the immutable
   :class:`~kubegate.evaluator.builtins.kubegate_image.ImageResults` the
   evaluation reads.

Transient failures (``timeout``, ``registry_unreachable``, ``busy`` ...)
are not answers about an image: the caller's failure mode decides them.
Under ``allow`` the builtin reports them with ``required: false`` (the
library policy then does not deny; the gate warns), under ``deny`` as they
are (the library policy denies, naming the image and the reason).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from kubegate.evaluator.builtins.kubegate_image import BUILTIN_NAMES, ImageResults
from kubegate.images.result import Verification
from kubegate.images.verifier import Verifier
from kubegate.rego import ast
from kubegate.rego.normalize import walk_terms

__all__ = ["ImagePrefetcher", "Prefetch", "TransientMode", "object_images", "policy_names", "uses_image_builtins"]

TransientMode = Literal["deny", "allow"]

_TEMPLATE_KINDS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"})
_FIELDS = ("initContainers", "containers", "ephemeralContainers")


def _pod_spec(obj: Mapping[str, Any]) -> Any:
    kind = obj.get("kind")
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        return None
    if kind == "Pod":
        return spec
    if kind in _TEMPLATE_KINDS:
        template = spec.get("template")
    elif kind == "CronJob":
        job = spec.get("jobTemplate")
        job_spec = job.get("spec") if isinstance(job, Mapping) else None
        template = job_spec.get("template") if isinstance(job_spec, Mapping) else None
    else:
        return None
    return template.get("spec") if isinstance(template, Mapping) else None


def object_images(obj: Any) -> tuple[str, ...]:
    """Every image string of ``obj``'s pod spec, in order (init, regular, ephemeral), once each.

    Args:
        obj: a Kubernetes object (JSON data); anything else has no images.
    """
    if not isinstance(obj, Mapping):
        return ()
    spec = _pod_spec(obj)
    if not isinstance(spec, Mapping):
        return ()
    images: dict[str, None] = {}
    for name in _FIELDS:
        containers = spec.get(name)
        if isinstance(containers, list):
            for c in containers:
                image = c.get("image") if isinstance(c, Mapping) else None
                if isinstance(image, str) and image:
                    images[image] = None
    return tuple(images)


def _calls(modules: Iterable[Any]) -> Iterable[ast.Call]:
    for module in modules:
        if not isinstance(module, ast.Module):
            continue
        for term in walk_terms(list(module.rules)):
            if isinstance(term, ast.Call) and term.name in BUILTIN_NAMES:
                yield term


def _modules(prepared: Any) -> list[Any]:
    """The ASTs of a :class:`~kubegate.engine.prepared.PreparedPolicySet` (duck-typed: engine is above)."""
    return [m.source if m.source is not None else m.module for m in prepared.catalog.modules]


def _strings(value: Any, depth: int = 0) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif depth < 8 and isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif depth < 8 and isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item, depth + 1)


def parameter_names(prepared: Any, known: Callable[[str], bool]) -> tuple[str, ...]:
    """String parameters of the policies whose modules call ``kubegate.image.*`` that ``known`` accepts."""
    catalog = prepared.catalog
    owners = {m.owner for m in catalog.modules if uses_image_builtins([m.source if m.source is not None else m.module])}
    names: dict[str, None] = {}
    for owner in owners:
        for policy_id in catalog.owners.get(owner, ()):
            policy = prepared.policy(policy_id)
            for text in _strings(getattr(policy, "parameters", None)):
                if text and known(text):
                    names[text] = None
    return tuple(names)


def uses_image_builtins(modules: Iterable[Any]) -> bool:
    """Whether any of ``modules`` (Rego ASTs) calls a ``kubegate.image.*`` builtin."""
    return any(True for _ in _calls(modules))


def policy_names(modules: Iterable[Any]) -> tuple[str, ...]:
    """The trust policy names to prefetch for ``modules``: ``""`` plus every
    literal string passed as ``kubegate.image.verify``'s second argument;
    ``()`` when no module calls the builtins."""
    names: dict[str, None] = {}
    found = False
    for call in _calls(modules):
        found = True
        if call.name == "kubegate.image.verify" and len(call.args) == 2:
            arg = call.args[1]
            if isinstance(arg, ast.Scalar) and isinstance(arg.value, str):
                names[arg.value] = None
    if not found:
        return ()
    return tuple(dict.fromkeys(["", *names]))


@dataclass(frozen=True, slots=True)
class Prefetch:
    """The verifications of one object and what the evaluation reads of them.

    Attributes:
        verifications: one per (image, policy name) verified, in order.
        results: the builtin's answers (:class:`ImageResults`).
        duration_ms: time the prefetch took, in milliseconds.
    """

    verifications: tuple[Verification, ...]
    results: ImageResults
    duration_ms: float = 0.0

    @property
    def transient(self) -> tuple[Verification, ...]:
        """Verifications that failed for the registry's or the pool's sake (the failure mode decides)."""
        return tuple(v for v in self.verifications if v.transient)

    def to_record(self) -> list[dict[str, Any]]:
        """What decision records keep (``kubegate.images``): image, digest, policy, verified, reason, cached."""
        return [
            {
                "image": v.image,
                "digest": v.digest,
                "policy": v.policy,
                "verified": v.verified,
                "reason": v.reason,
                "cached": v.cached,
                "required": v.required,
                "durationMs": round(v.duration_ms, 3),
            }
            for v in self.verifications
        ]


EMPTY = Prefetch((), ImageResults())


def answer_of(v: Verification, transient_mode: TransientMode) -> dict[str, Any]:
    """The builtin's answer for ``v`` (a transient failure is not required under ``allow``)."""
    required = v.required and not (v.transient and transient_mode == "allow")
    return {
        "verified": v.verified,
        "digest": v.digest,
        "reason": v.reason,
        "message": v.message,
        "attestor": v.attestor,
        "cached": v.cached,
        "required": required,
        "policy": v.policy,
    }


class ImagePrefetcher:
    """Verifies the images of objects before evaluation.

    Args:
        verifier: the verifier (its pool bounds the work; its cache keeps results).
        timeout_ms: time limit of one object's prefetch, in milliseconds;
            verifications unfinished by then are answered ``timeout``.
        transient_mode: the failure mode for transient failures (module docstring).
    """

    def __init__(self, verifier: Verifier, timeout_ms: float = 2000.0, transient_mode: TransientMode = "deny") -> None:
        self.verifier = verifier
        self.timeout_ms = timeout_ms
        self.transient_mode = transient_mode
        self._names: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._pending = 0

    def names_for(self, prepared: Any) -> tuple[str, ...]:
        """:func:`policy_names` of a prepared policy set (remembered by its version)."""
        version = str(prepared.version)
        with self._lock:
            found = self._names.get(version)
        if found is None:
            found = policy_names(_modules(prepared))
            if found:
                known = self.verifier.trust_policy.policy
                found = tuple(dict.fromkeys([*found, *parameter_names(prepared, lambda n: known(n) is not None)]))
            with self._lock:
                if len(self._names) > 16:
                    self._names.clear()
                self._names[version] = found
        return found

    def prefetch(self, obj: Any, names: Sequence[str], deadline: float | None = None) -> Prefetch:
        """Verifies every image of ``obj`` under every name of ``names``.

        Args:
            obj: the reviewed object (JSON data).
            names: trust policy names (``""``: chosen by the image globs); empty: nothing to do.
            deadline: ``time.monotonic()`` seconds; default now + ``timeout_ms``.

        Returns:
            A :class:`Prefetch` (never raises for what an image or registry holds).
        """
        images = object_images(obj)
        if not images or not names:
            return EMPTY
        start = time.monotonic()
        if deadline is None:
            deadline = start + self.timeout_ms / 1000.0
        verifications: list[Verification] = []
        answers: dict[tuple[str, str], Mapping[str, Any]] = {}
        for name in names:
            for image, v in zip(images, self.verifier.verify_many(images, name or None, deadline), strict=True):
                verifications.append(v)
                answers[(image, name)] = MappingProxyType(answer_of(v, self.transient_mode))
        results = ImageResults(MappingProxyType(answers))
        return Prefetch(tuple(verifications), results, (time.monotonic() - start) * 1000.0)

    async def prefetch_async(
        self, obj: Any, names: Sequence[str], executor: Executor, max_pending: int = 256
    ) -> Prefetch:
        """:meth:`prefetch` for an event loop: each verification runs on ``executor``
        (a bounded pool of the caller's, apart from its evaluation threads) and the
        loop waits for them without holding a thread; past ``timeout_ms`` the
        unfinished ones are answered ``timeout`` (they end on their registry time
        limits and still fill the cache); more than ``max_pending`` verifications
        in flight are answered ``busy``.
        """
        images = object_images(obj)
        if not images or not names:
            return EMPTY
        loop = asyncio.get_running_loop()
        start = time.monotonic()
        timeout_s = self.timeout_ms / 1000.0
        deadline = start + timeout_s
        pairs = [(image, name) for name in names for image in images]
        futures: dict[tuple[str, str], asyncio.Future[Verification]] = {}
        early: dict[tuple[str, str], Verification] = {}
        for image, name in pairs:
            with self._lock:
                busy = self._pending >= max_pending
                if not busy:
                    self._pending += 1
            if busy:
                early[(image, name)] = self._failed(image, name, "busy", "the verification queue is full")
                continue
            future = loop.run_in_executor(executor, self.verifier.verify, image, name or None, deadline)
            future.add_done_callback(self._release)
            futures[(image, name)] = future
        if futures:
            await asyncio.wait(list(futures.values()), timeout=timeout_s)
        verifications: list[Verification] = []
        answers: dict[tuple[str, str], Mapping[str, Any]] = {}
        for pair in pairs:
            running = futures.get(pair)
            if running is None:
                v = early[pair]
            elif running.done() and not running.cancelled() and running.exception() is None:
                v = running.result()
            else:
                v = self._failed(*pair, "timeout", "not verified within the time limit")
            verifications.append(v)
            answers[pair] = MappingProxyType(answer_of(v, self.transient_mode))
        results = ImageResults(MappingProxyType(answers))
        return Prefetch(tuple(verifications), results, (time.monotonic() - start) * 1000.0)

    def _release(self, _future: Any) -> None:
        with self._lock:
            self._pending -= 1

    def _failed(self, image: str, name: str, reason: str, text: str) -> Verification:
        version = self.verifier.trust_policy.version
        return Verification(image, None, False, reason, f"{image}: {text}", name or None, trust_policy_version=version)

    def prefetch_for(self, prepared: Any, obj: Any, deadline: float | None = None) -> Prefetch:
        """:meth:`prefetch` with the names ``prepared``'s policies use (nothing when none calls the builtins)."""
        return self.prefetch(obj, self.names_for(prepared), deadline)
