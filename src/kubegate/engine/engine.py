"""The SDK entry point: :class:`Engine`.

An engine loads policies once (directories, in-memory objects and the
built-in library), compiles them into an immutable prepared policy set, and
then evaluates it from any number of threads. Swapping in a new policy set
(new inventory, reloaded policies) replaces one reference; reviews in flight
finish on the set they started with.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.backend import Backend
from kubegate.engine.backends import make_backend
from kubegate.engine.decision import Decision, DecisionObserver, ReviewResult
from kubegate.engine.hooks import HookFunction, HookRunner
from kubegate.engine.inputs import build_review
from kubegate.engine.prepared import PreparedPolicySet, prepare
from kubegate.errors import ErrorList, KubegateError, UsageError
from kubegate.evaluator.builtins.kubegate_image import ImageResults, use_image_results
from kubegate.images.prefetch import ImagePrefetcher, Prefetch
from kubegate.images.verifier import Verifier
from kubegate.policy.catalog import Catalog, DslFile, PolicySources, RegoFile, build_catalog
from kubegate.policy.conftest import check_base_data
from kubegate.policy.inventory import Inventory
from kubegate.policy.loader import (
    builtin_expansion_sources,
    builtin_sources,
    compile_dsl_sources,
    load_policy_objects,
    load_policy_paths,
)
from kubegate.policy.units import Policy

__all__ = ["DEFAULT_ENFORCEMENT_POINT", "Engine"]

DEFAULT_ENFORCEMENT_POINT = "validation.gatekeeper.sh"


class Engine:
    """Loads policies and evaluates them.

    Args:
        policies: policy files or directories (``.rego``, ``.kgr`` DSL files,
            ConstraintTemplates, Constraints, CRDs; see :mod:`kubegate.policy.loader`).
        objects: in-memory policies: ConstraintTemplate/Constraint/CRD dicts,
            :class:`~kubegate.policy.catalog.RegoFile` s and
            :class:`~kubegate.policy.catalog.DslFile` s.
        builtin: include kubegate's built-in compliance library.
        parameters: ``{policy id: {...}}`` overriding ``input.parameters`` of
            plain Rego policies (the built-ins' ``registries``, for instance).
        inventory: objects exposed to policies as ``data.inventory``.
        data: base data merged at ``data`` for plain Rego packages (what
            conftest's ``--data`` gives its policies): a mapping of JSON
            values; ``data.inventory`` and ``data.kubegate`` are kubegate's.
            Templates do not see it (Gatekeeper gives them ``data.inventory``
            only). Part of the policy-set version.
        backend: the Rego backend or its name: ``"compiled"`` (kubegate's own
            evaluator, the default) or ``"regopy"`` (rego-cpp).
        enforcement_point: selects the action of ``scoped`` constraints.
        strict: raise instead of keeping going when a policy fails to load.
        parallelism: threads one review may use (rego-cpp releases the GIL, so
            on N cores a review of many policies takes about 1/N of the time).
        kubernetes_version: the Kubernetes API (major.minor) DSL rules are
            checked against, and whose CEL environment compiles
            ValidatingAdmissionPolicies and K8sNativeValidation templates.
        hooks: ``{name: callable}`` for DSL ``CALL name(...)`` actions; each
            gets a :class:`~kubegate.engine.hooks.HookCall` after the review
            is decided, on a background thread (see :meth:`register_hook`).
        decision_log: told about every review and evaluation (e.g. a
            :class:`kubegate.audit.logger.DecisionLogger`); a record that
            cannot be written (a full log with ``fail_closed``) raises.
        tracing: told about every review and evaluation too (e.g. a
            :class:`kubegate.audit.tracing.Tracing`, for OpenTelemetry spans).
        template_engine: ``rego`` (Gatekeeper's default) or ``cel``: which code
            runs for ConstraintTemplates that have both Rego and
            K8sNativeValidation; templates with only CEL always run their CEL.
        expansion: add kubegate's built-in ExpansionTemplates for the standard
            workload kinds, so Pod policies also review the Pods a Deployment,
            Job... generates (:mod:`kubegate.policy.expansion`); ExpansionTemplates
            among ``policies``/``objects`` are used either way.
        image_verifier: verifies the images of every reviewed object before
            its evaluation, when the policy set calls ``kubegate.image.verify``
            (:mod:`kubegate.images.prefetch`; docs/images.md "Policy
            integration"); without one, ``kubegate.image.verify`` answers
            ``not_configured``.
        image_verification_timeout_ms: time limit of one object's image
            verifications, in milliseconds (unfinished ones answer ``timeout``).

    Raises:
        ErrorList: with ``strict=True``, every load error.
        UsageError: ``unknown_kubernetes_version``.
        InputError: ``invalid_data``, ``reserved_data_key`` (``data``).

    Example::

        engine = Engine(["policies/"])
        result = engine.review(pod)
        if not result.allowed:
            for v in result.denials:
                print(v.policy, v.message)
    """

    def __init__(
        self,
        policies: Iterable[str] = (),
        objects: Iterable[Mapping[str, Any] | RegoFile | DslFile] = (),
        *,
        builtin: bool = True,
        parameters: Mapping[str, Mapping[str, Any]] | None = None,
        inventory: Iterable[Mapping[str, Any]] = (),
        backend: Backend | str | None = None,
        enforcement_point: str = DEFAULT_ENFORCEMENT_POINT,
        strict: bool = False,
        parallelism: int = 1,
        kubernetes_version: str = DEFAULT_KUBERNETES_VERSION,
        hooks: Mapping[str, HookFunction] | None = None,
        decision_log: DecisionObserver | None = None,
        tracing: DecisionObserver | None = None,
        expansion: bool = True,
        data: Mapping[str, Any] | None = None,
        template_engine: str = "rego",
        image_verifier: Verifier | None = None,
        image_verification_timeout_ms: float = 5000.0,
    ) -> None:
        base_data = check_base_data(data)
        self.images = ImagePrefetcher(image_verifier, image_verification_timeout_ms) if image_verifier else None
        self._backend = make_backend(backend)
        self.hooks = HookRunner(hooks)
        self.decision_log = decision_log
        self.tracing = tracing
        if parallelism < 1:
            raise UsageError(f"parallelism must be at least 1, got {parallelism}")
        self._parallelism = parallelism
        self._executor = (
            ThreadPoolExecutor(parallelism - 1, thread_name_prefix="kubegate-eval") if parallelism > 1 else None
        )
        self._parameters = dict(parameters or {})
        self._enforcement_point = enforcement_point
        sources = PolicySources()
        if builtin:
            sources = sources.merged(builtin_sources())
        if expansion:
            sources = sources.merged(builtin_expansion_sources())
        paths = list(policies)
        if paths:
            sources = sources.merged(load_policy_paths(paths, kubernetes_version=kubernetes_version))
        objs = list(objects)
        if objs:
            sources = sources.merged(load_policy_objects(objs, kubernetes_version=kubernetes_version))
        sources = compile_dsl_sources(sources, kubernetes_version)
        self._sources = sources
        self._lock = threading.Lock()
        if template_engine not in ("rego", "cel"):
            raise UsageError(f"template engine {template_engine!r} is not rego or cel", code="unknown_engine")
        catalog = build_catalog(
            sources, parameters=self._parameters, enforcement_point=enforcement_point, template_engine=template_engine
        )
        self._prepared = prepare(catalog, self._backend, Inventory.from_objects(inventory), data=base_data)
        if strict and self._prepared.errors:
            raise ErrorList(self._prepared.errors)

    # ---- state
    @property
    def prepared(self) -> PreparedPolicySet:
        """The current prepared policy set (immutable; safe to hold on to)."""
        return self._prepared

    @property
    def catalog(self) -> Catalog:
        return self._prepared.catalog

    @property
    def policies(self) -> tuple[Policy, ...]:
        return self._prepared.policies

    @property
    def version(self) -> str:
        """The policy-set version: sha256 over policy ids and versions, the inventory and the data."""
        return self._prepared.version

    @property
    def errors(self) -> tuple[KubegateError, ...]:
        """Policies that could not be loaded, each with code and location."""
        return self._prepared.errors

    @property
    def warnings(self) -> tuple[KubegateError, ...]:
        return self._prepared.warnings

    def set_inventory(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Replaces ``data.inventory`` (recompiles; reviews in flight are unaffected).

        Raises:
            InputError: ``invalid_inventory_object``.
        """
        inventory = Inventory.from_objects(objects)
        with self._lock:
            if inventory.version == self._prepared.inventory.version:
                return
            self._prepared = prepare(
                self._prepared.catalog, self._backend, inventory, previous=self._prepared, data=self._prepared.data
            )

    def set_data(self, data: Mapping[str, Any] | None) -> None:
        """Replaces the base data (see the ``data`` argument; recompiles the units
        that read it; reviews in flight are unaffected).

        Raises:
            InputError: ``invalid_data``, ``reserved_data_key``.
        """
        base_data = check_base_data(data)
        with self._lock:
            prepared = self._prepared
            if base_data == prepared.data:
                return
            self._prepared = prepare(
                prepared.catalog, self._backend, prepared.inventory, previous=prepared, data=base_data
            )

    # ---- evaluation
    def evaluate(self, policy_id: str, input: Any) -> Decision:  # noqa: A002 - the OPA term
        """Evaluates one policy on ``input`` exactly as given.

        For Gatekeeper-style policies ``input`` is ``{"review": {...}}``; the
        policy's parameters are supplied as ``input.parameters``.

        Raises:
            UsageError: ``unknown_policy`` when no policy has ``policy_id``.
            EvaluationError: the backend failed.
        """
        prepared = self._prepared
        if prepared.policy(policy_id) is None:
            known = ", ".join(p.id for p in prepared.policies[:20])
            raise UsageError(f"no policy with id {policy_id!r} (loaded: {known})", code="unknown_policy")
        decision = prepared.evaluate(policy_id, input)
        for observer in (self.decision_log, self.tracing):
            if observer is not None:
                observer.evaluated(policy_id, input, decision)
        return decision

    def review(
        self,
        obj: Mapping[str, Any],
        *,
        operation: str | None = None,
        old_object: Mapping[str, Any] | None = None,
        user_info: Mapping[str, Any] | None = None,
        image_results: ImageResults | None = None,
    ) -> ReviewResult:
        """Reviews an object, an AdmissionRequest or an AdmissionReview against
        every policy whose match selects it.

        Args:
            obj: a Kubernetes object (reviewed as a ``CREATE`` unless
                ``operation`` says otherwise), an ``AdmissionReview``
                (``admission.k8s.io/v1`` or ``v1beta1``) or its ``request``;
                which one is decided by the rules of
                :mod:`kubegate.engine.inputs` (an argument that looks like
                both an object and a request is refused, never guessed).
            operation: for objects: ``CREATE``, ``UPDATE``, ``DELETE``, ``CONNECT``.
            old_object: for objects: the previous version (UPDATE, DELETE).
            user_info: for objects: the requesting user.
            image_results: what ``kubegate.image.verify`` answers in this review
                (from :meth:`prefetch_images`, or ``ImageResults(offline=True)``);
                by default the engine's ``image_verifier`` verifies the object's
                images first (when the policy set calls the builtin).

        Raises:
            InputError: the object or request is malformed (``invalid_object``,
                ``ambiguous_review_input``, ``input_too_deep``,
                ``invalid_admission_review``, ``invalid_admission_request``)
                or cannot be given to the backend (``invalid_unicode``,
                ``number_out_of_range``).
        """
        review = build_review(obj, operation=operation, old_object=old_object, user_info=user_info)
        prepared = self._prepared
        if image_results is None and self.images is not None:
            image_results = self.images.prefetch_for(prepared, review.get("object") or review.get("oldObject")).results
        executor: Executor | None = self._executor
        if executor is not None and image_results is not None:
            executor = _WithImages(executor, image_results)
        with use_image_results(image_results):
            result = prepared.review(review, executor, self._parallelism)
        self.hooks.dispatch(result)
        if self.decision_log is not None:
            self.decision_log.review_decided(review, result)
        if self.tracing is not None:
            self.tracing.review_decided(review, result)
        return result

    def prefetch_images(self, obj: Mapping[str, Any]) -> Prefetch:
        """Verifies the images of ``obj`` as :meth:`review` would (nothing without an
        ``image_verifier`` or when no policy calls ``kubegate.image.verify``).

        Returns:
            A :class:`~kubegate.images.prefetch.Prefetch`; pass its ``results``
            to :meth:`review` as ``image_results``.
        """
        if self.images is None:
            return Prefetch((), ImageResults())
        return self.images.prefetch_for(self._prepared, obj)

    def register_hook(self, name: str, hook: HookFunction) -> None:
        """Registers the callable run for ``CALL name(...)`` in DSL rules.

        Hooks run after the decision, one at a time on a background thread;
        they cannot delay or change it, and their exceptions are logged.
        """
        self.hooks.register(name, hook)

    def close(self) -> None:
        """Stops the evaluation threads of ``parallelism`` > 1 and lets pending hooks finish (idempotent)."""
        self.hooks.close()
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None
            self._parallelism = 1


class _WithImages(Executor):
    """Runs the shares of a parallel review with the review's image results on their threads."""

    def __init__(self, inner: Executor, results: ImageResults) -> None:
        self._inner, self._results = inner, results

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        results = self._results

        def run() -> Any:
            with use_image_results(results):
                return fn(*args, **kwargs)

        return self._inner.submit(run)
