"""Kinds to API resources, as an API server's discovery would answer offline.

ValidatingAdmissionPolicy rules match *resources* (``deployments``,
``pods/status``), while manifests name *kinds*. For a custom resource the
CustomResourceDefinition says both (``spec.names.plural``, ``spec.scope``); for
a built-in kind the resource is what apimachinery's
``meta.UnsafeGuessKindToResource`` derives, which is what every built-in
resource is named (``Ingress`` → ``ingresses``, ``NetworkPolicy`` →
``networkpolicies``, ``Endpoints`` → ``endpoints``), and the scope comes from
:data:`CLUSTER_SCOPED` (the Kubernetes API reference). A kind neither built in
nor defined by a given CRD gets the guessed resource and is treated as
namespaced when it has a namespace.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from kubegate.policy.kinds import BUILTIN_KINDS

__all__ = ["CLUSTER_SCOPED", "Resource", "ResourceMapper", "guess_resource"]

CLUSTER_SCOPED = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttributesClass"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("apiregistration.k8s.io", "APIService"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("node.k8s.io", "RuntimeClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("policy", "PodSecurityPolicy"),
        ("extensions", "PodSecurityPolicy"),
        ("resource.k8s.io", "DeviceClass"),
        ("resource.k8s.io", "ResourceSlice"),
        ("authentication.k8s.io", "TokenReview"),
        ("authentication.k8s.io", "SelfSubjectReview"),
        ("authorization.k8s.io", "SubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectAccessReview"),
        ("authorization.k8s.io", "SelfSubjectRulesReview"),
        ("templates.gatekeeper.sh", "ConstraintTemplate"),
    }
)
"""Built-in (group, kind) pairs that are cluster-scoped; every other built-in kind is namespaced."""

_UNPLURALIZED_SUFFIXES = ("endpoints",)


@dataclass(frozen=True)
class Resource:
    """An API resource: ``group``, ``resource`` (plural, lower case) and whether it
    is namespaced."""

    group: str
    resource: str
    namespaced: bool


def guess_resource(kind: str) -> str:
    """apimachinery ``meta.UnsafeGuessKindToResource``: the plural resource of ``kind``
    (lower case; ``s``→``ses``, ``y``→``ies``, ``endpoints`` unchanged)."""
    singular = kind.lower()
    if not singular:
        return ""
    if any(singular.endswith(s) for s in _UNPLURALIZED_SUFFIXES):
        return singular
    if singular.endswith("s"):
        return singular + "es"
    if singular.endswith("y"):
        return singular[:-1] + "ies"
    return singular + "s"


class ResourceMapper:
    """Resource names and scopes for kinds: CRDs first, then the built-in rules."""

    def __init__(self, crds: Iterable[Mapping[str, Any]] = ()) -> None:
        self._crds: dict[tuple[str, str], Resource] = {}
        for crd in crds:
            spec = crd.get("spec")
            names = spec.get("names") if isinstance(spec, Mapping) else None
            if not isinstance(names, Mapping) or not isinstance(spec, Mapping):
                continue
            group, kind, plural = spec.get("group"), names.get("kind"), names.get("plural")
            if isinstance(group, str) and isinstance(kind, str) and isinstance(plural, str) and plural:
                self._crds[(group, kind)] = Resource(group, plural, spec.get("scope", "Namespaced") != "Cluster")

    def resource(self, group: str, kind: str, has_namespace: bool = True) -> Resource:
        """The resource of ``group``/``kind``; an unknown kind is namespaced when
        the object has a namespace (``has_namespace``)."""
        found = self._crds.get((group, kind))
        if found is not None:
            return found
        if (group, kind) in CLUSTER_SCOPED:
            return Resource(group, guess_resource(kind), False)
        builtin = kind in BUILTIN_KINDS.get(group, {})
        return Resource(group, guess_resource(kind), True if builtin else has_namespace)
