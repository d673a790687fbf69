"""CEL against Rego, side by side in one run (issue 13's benchmark).

1. ``bench-pod`` (benchmarks/corpus/manifests/pods-shop.yaml) against one
   ValidatingAdmissionPolicy of 20 validations (written here, typical Pod
   checks) and one binding: p50/p99 per review, one thread; the target is
   p99 <= 2 ms.
2. The same Pod against the first N gatekeeper-library templates that carry
   both Rego and K8sNativeValidation (with their first sample constraint),
   reviewed by an Engine on the CEL code and one on the Rego code (the
   default compiled backend), interleaved.

This is a benchmark, not a test: it asserts nothing and never runs in CI.
Usage: ``python -m benchmarks.cel --gatekeeper-library DIR [--templates 10] [--rounds 500]``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.review_latency import CORPUS, summary
from kubegate import Engine
from kubegate.policy.documents import load_file

CHECKS = [
    "object.spec.containers.all(c, has(c.resources) && has(c.resources.limits))",
    "object.spec.containers.all(c, !c.image.endsWith(':latest'))",
    "object.spec.containers.all(c, c.image.contains('/'))",
    "!has(object.spec.hostNetwork) || !object.spec.hostNetwork",
    "!has(object.spec.hostPID) || !object.spec.hostPID",
    "!has(object.spec.hostIPC) || !object.spec.hostIPC",
    "object.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.privileged)"
    " || !c.securityContext.privileged)",
    "has(object.metadata.labels) && 'app' in object.metadata.labels",
    "has(object.metadata.labels) && 'team' in object.metadata.labels",
    "object.spec.containers.size() <= 10",
    "object.spec.containers.all(c, c.name.size() <= 63)",
    "!has(object.spec.volumes) || object.spec.volumes.all(v, !has(v.hostPath))",
    "object.spec.containers.all(c, !has(c.ports) || c.ports.all(p, p.containerPort > 1024))",
    "!has(object.spec.serviceAccountName) || object.spec.serviceAccountName != 'default'",
    "object.metadata.name.matches('^[a-z0-9-]+$')",
    "object.spec.containers.all(c, !has(c.env) || c.env.all(e, !e.name.startsWith('AWS_SECRET')))",
    "!has(object.spec.initContainers) || object.spec.initContainers.size() <= 5",
    "object.spec.containers.exists(c, has(c.readinessProbe)) || true",
    "!has(object.spec.automountServiceAccountToken) || !object.spec.automountServiceAccountToken || true",
    "object.spec.containers.all(c, !has(c.securityContext) || !has(c.securityContext.allowPrivilegeEscalation)"
    " || !c.securityContext.allowPrivilegeEscalation)",
]


def vap_objects() -> list[dict[str, Any]]:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "bench.example.com"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["*"], "resources": ["pods"]}
                ]
            },
            "validations": [{"expression": e, "message": f"check {i}"} for i, e in enumerate(CHECKS)],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": "bench"},
        "spec": {"policyName": "bench.example.com", "validationActions": ["Deny"]},
    }
    return [policy, binding]


def dual_templates(root: Path, count: int) -> list[str]:
    """Template and first sample constraint of the first ``count`` library templates with both engines."""
    paths: list[str] = []
    for template in sorted((root / "library").glob("**/template.yaml")):
        text = template.read_text()
        if "K8sNativeValidation" not in text or "engine: Rego" not in text:
            continue
        samples = sorted(template.parent.glob("samples/*/constraint.yaml"))
        if samples:
            paths += [str(template), str(samples[0])]
        if len(paths) >= 2 * count:
            break
    return paths


def timed(engine: Engine, obj: dict[str, Any], out: list[float]) -> None:
    start = time.perf_counter()
    engine.review(obj)
    out.append((time.perf_counter() - start) * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gatekeeper-library", type=Path, required=True)
    parser.add_argument("--templates", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args()
    pod = next(d.obj for d in load_file(str(CORPUS / "manifests" / "pods-shop.yaml")) if d.name == "bench-pod")
    vap = Engine(objects=vap_objects(), builtin=False, expansion=False)
    paths = dual_templates(args.gatekeeper_library, args.templates)
    cel = Engine(paths, builtin=False, expansion=False, template_engine="cel")
    rego = Engine(paths, builtin=False, expansion=False)
    for e in (vap, cel, rego):
        assert not e.errors, e.errors
        for _ in range(20):
            e.review(pod)
    times: dict[str, list[float]] = {"vap_20_validations": [], "templates_cel": [], "templates_rego": []}
    for _ in range(args.rounds):
        timed(vap, pod, times["vap_20_validations"])
        timed(cel, pod, times["templates_cel"])
        timed(rego, pod, times["templates_rego"])
    stats = {k: summary(v) for k, v in times.items()}
    print(
        json.dumps(
            {
                "machine": f"{platform.node()} {platform.machine()} {platform.python_version()}",
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "templates": len(paths) // 2,
                "violations": {
                    "vap": len(vap.review(pod).violations),
                    "cel": sorted(v.message for v in cel.review(pod).violations),
                    "rego": sorted(v.message for v in rego.review(pod).violations),
                },
                **stats,
                "cel_over_rego_p50": round(stats["templates_cel"]["p50_ms"] / stats["templates_rego"]["p50_ms"], 2),
                "cel_over_rego_p99": round(stats["templates_cel"]["p99_ms"] / stats["templates_rego"]["p99_ms"], 2),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
