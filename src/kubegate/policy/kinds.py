"""Kubernetes kinds kubegate knows without being told: the built-in API groups.

Used to flag manifests whose ``apiVersion``/``kind`` no cluster would accept
(a typo such as ``kind: Deploymnet``) instead of letting them pass every policy
unnoticed. Custom resources become known when their CustomResourceDefinition
is part of the input. Versions follow the Kubernetes API reference
(https://kubernetes.io/docs/reference/kubernetes-api/), including versions
removed in recent releases, since old manifests are exactly what CI should see.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from kubegate.policy.match import split_api_version

__all__ = ["BUILTIN_KINDS", "KindRegistry", "kind_case_misses"]

# group -> kind -> versions
BUILTIN_KINDS: dict[str, dict[str, tuple[str, ...]]] = {
    "": {
        k: ("v1",)
        for k in (
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
            "List",
        )
    },
    "apps": {
        k: ("v1", "v1beta1", "v1beta2")
        for k in ("ControllerRevision", "DaemonSet", "Deployment", "ReplicaSet", "StatefulSet")
    },
    "batch": {"Job": ("v1",), "CronJob": ("v1", "v1beta1")},
    "autoscaling": {"HorizontalPodAutoscaler": ("v1", "v2", "v2beta1", "v2beta2")},
    "policy": {"PodDisruptionBudget": ("v1", "v1beta1"), "PodSecurityPolicy": ("v1beta1",), "Eviction": ("v1",)},
    "networking.k8s.io": {
        "Ingress": ("v1", "v1beta1"),
        "IngressClass": ("v1", "v1beta1"),
        "NetworkPolicy": ("v1",),
        "IPAddress": ("v1", "v1beta1"),
        "ServiceCIDR": ("v1", "v1beta1"),
    },
    "extensions": {
        k: ("v1beta1",)
        for k in ("Ingress", "Deployment", "DaemonSet", "ReplicaSet", "NetworkPolicy", "PodSecurityPolicy")
    },
    "rbac.authorization.k8s.io": {
        k: ("v1", "v1beta1") for k in ("Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding")
    },
    "storage.k8s.io": {
        k: ("v1", "v1beta1")
        for k in (
            "StorageClass",
            "VolumeAttachment",
            "CSIDriver",
            "CSINode",
            "CSIStorageCapacity",
            "VolumeAttributesClass",
        )
    },
    "admissionregistration.k8s.io": {
        k: ("v1", "v1beta1", "v1alpha1")
        for k in (
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
            "MutatingAdmissionPolicy",
            "MutatingAdmissionPolicyBinding",
        )
    },
    "admission.k8s.io": {"AdmissionReview": ("v1", "v1beta1")},
    "apiextensions.k8s.io": {"CustomResourceDefinition": ("v1", "v1beta1")},
    "apiregistration.k8s.io": {"APIService": ("v1", "v1beta1")},
    "scheduling.k8s.io": {"PriorityClass": ("v1", "v1beta1")},
    "coordination.k8s.io": {"Lease": ("v1", "v1beta1")},
    "discovery.k8s.io": {"EndpointSlice": ("v1", "v1beta1")},
    "node.k8s.io": {"RuntimeClass": ("v1", "v1beta1")},
    "certificates.k8s.io": {
        "CertificateSigningRequest": ("v1", "v1beta1"),
        "ClusterTrustBundle": ("v1alpha1", "v1beta1"),
    },
    "events.k8s.io": {"Event": ("v1", "v1beta1")},
    "flowcontrol.apiserver.k8s.io": {k: ("v1", "v1beta3") for k in ("FlowSchema", "PriorityLevelConfiguration")},
    "resource.k8s.io": {
        k: ("v1", "v1beta1", "v1beta2")
        for k in ("DeviceClass", "ResourceClaim", "ResourceClaimTemplate", "ResourceSlice")
    },
    "authentication.k8s.io": {"TokenReview": ("v1",), "TokenRequest": ("v1",), "SelfSubjectReview": ("v1",)},
    "authorization.k8s.io": {
        k: ("v1",)
        for k in (
            "SubjectAccessReview",
            "SelfSubjectAccessReview",
            "LocalSubjectAccessReview",
            "SelfSubjectRulesReview",
        )
    },
    "templates.gatekeeper.sh": {"ConstraintTemplate": ("v1", "v1beta1", "v1alpha1")},
}

_ANY_KIND_GROUPS = frozenset({"constraints.gatekeeper.sh", "test.gatekeeper.sh"})


class KindRegistry:
    """Known ``(group, version, kind)`` triples: the built-ins plus CRDs added later."""

    def __init__(self) -> None:
        self._kinds: dict[str, dict[str, set[str]]] = {
            g: {k: set(v) for k, v in kinds.items()} for g, kinds in BUILTIN_KINDS.items()
        }

    def add_crds(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Registers the kinds defined by CustomResourceDefinition objects among ``objects``."""
        for obj in objects:
            group, _ = split_api_version(str(obj.get("apiVersion", "")))
            if group != "apiextensions.k8s.io" or obj.get("kind") != "CustomResourceDefinition":
                continue
            spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
            assert isinstance(spec, dict)
            crd_group = str(spec.get("group") or "")
            names = spec.get("names") if isinstance(spec.get("names"), dict) else {}
            kind = str(names.get("kind") or "") if isinstance(names, dict) else ""
            versions = {str(v.get("name")) for v in spec.get("versions") or [] if isinstance(v, dict) and v.get("name")}
            if spec.get("version"):
                versions.add(str(spec["version"]))
            if crd_group and kind:
                self._kinds.setdefault(crd_group, {}).setdefault(kind, set()).update(versions or {"*"})

    def near_miss(self, api_version: str, kind: str) -> str | None:
        """Like :meth:`problem`, but only for groups kubegate knows (a kind or
        version missing from a built-in group or a CRD's group is likely a
        typo); an unknown group is a custom resource's and not a problem."""
        group, _ = split_api_version(api_version)
        if group not in _ANY_KIND_GROUPS and group not in self._kinds:
            return None
        return self.problem(api_version, kind)

    def problem(self, api_version: str, kind: str) -> str | None:
        """Why ``apiVersion``/``kind`` is not known, or ``None`` when it is."""
        group, version = split_api_version(api_version)
        if group in _ANY_KIND_GROUPS:
            return None
        kinds = self._kinds.get(group)
        if kinds is None:
            return f"API group {group!r} is not a Kubernetes API group and no CustomResourceDefinition defines it"
        versions = kinds.get(kind)
        if versions is None:
            close = difflib.get_close_matches(kind, list(kinds), n=1, cutoff=0.75)
            hint = f" (did you mean {close[0]}?)" if close else ""
            where = f"group {group!r}" if group else "the core API group"
            return f"kind {kind!r} does not exist in {where}{hint}"
        if "*" not in versions and version not in versions:
            return f"{kind} has no API version {version!r} (known: {', '.join(sorted(versions))})"
        return None


def kind_case_misses(kinds: Iterable[str]) -> list[tuple[str, str]]:
    """``(written, meant)`` for each kind that is a built-in kind in another case
    (``pod`` for ``Pod``): Gatekeeper matches kinds case-sensitively, so such a
    selector matches nothing."""
    by_lower: dict[str, str] = {}
    for group_kinds in BUILTIN_KINDS.values():
        for kind in group_kinds:
            by_lower.setdefault(kind.lower(), kind)
    exact = set(by_lower.values())
    out = []
    for kind in kinds:
        meant = by_lower.get(kind.lower())
        if kind not in exact and kind != "*" and meant is not None:
            out.append((kind, meant))
    return out
