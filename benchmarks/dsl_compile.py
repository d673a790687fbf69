"""How long the DSL compiler takes for 200 rules: the hot-reload budget of a DSL edit.

Builds one file of 200 rules from ten realistic shapes (seccomp, registries
with a parameter, quantities, ALL, NOT, OR, IN NAMESPACES, enums, hooks,
CronJob templates...), then compiles it, source text to printed Rego
(parse, schema check, code generation, printing), with the Kubernetes
schemas already loaded (a running server has them) — and once cold, in a
fresh process, for reference. Reports p50/p99 over ``rounds`` runs.
Asserts nothing.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

from kubegate.dsl.compiler import compile_source
from kubegate.dsl.schema import SchemaSet

SHAPES = [
    "RULE r{i} ON Pod, Deployment, StatefulSet SEVERITY high\n"
    '  WHEN labels["kubegate.io/pci-scope"] == "true"\n'
    '   AND ANY container c: c.securityContext.seccompProfile.type NOT IN ("RuntimeDefault", "Localhost")\n'
    '  THEN DENY("container {{c.name}} needs a seccomp profile ({i})")',
    "RULE r{i} ON Pod, Deployment WHEN ANY container c: NOT (ANY r IN registries: c.image STARTS WITH r)\n"
    '  THEN DENY("{{c.image}} is not from an approved registry ({i})")',
    "RULE r{i} ON Pod WHEN ANY container c: c.resources.limits.memory > 4Gi OR c.resources.limits.cpu > 2000m\n"
    '  THEN WARN("{{c.name}} asks for a lot ({i})")',
    "RULE r{i} ON Deployment, StatefulSet WHEN spec.replicas > max_replicas OR spec.replicas MISSING\n"
    '  THEN AUDIT("{{kind}} {{name}} replicas ({i})")',
    'RULE r{i} ON Pod WHEN ALL container c: c.image MATCHES "@sha256:[a-f0-9]{{64}}$" THEN WARN("all pinned ({i})")',
    'RULE r{i} ON Service EXCEPT NAMESPACES ("edge-*") WHEN spec.type == "LoadBalancer" THEN DENY("no LB ({i})")',
    'RULE r{i} ON CronJob WHEN spec.concurrencyPolicy != "Forbid" AND ANY container c: c.imagePullPolicy != "Always"\n'
    '  THEN WARN("{{name}}: {{c.name}} ({i})") AND CALL notify("batch-team", "{{namespace}}/{{name}}")',
    "RULE r{i} ON Pod WHEN pod.hostNetwork OR pod.hostPID OR ANY container c: c.securityContext.privileged\n"
    '  THEN DENY("privileged or host namespaces ({i})")',
    'RULE r{i} ON Pod WHEN ANY container c: ANY e IN c.env: e.name MATCHES "(?i)password|secret" AND e.value EXISTS\n'
    '  THEN DENY("{{c.name}} sets {{e.name}} literally ({i})")',
    'RULE r{i} ON Ingress WHEN len(spec.tls) == 0 AND labels["exposure"] IN ("public", "partner")\n'
    '  THEN DENY("{{name}} needs TLS ({i})")',
]
HEADER = 'PARAM registries: list[string] = ["registry.bank.internal/"]\nPARAM max_replicas: int = 10\n\n'


def source(rules: int = 200) -> str:
    return HEADER + "\n\n".join(SHAPES[i % len(SHAPES)].format(i=i) for i in range(rules)) + "\n"


def _cold_ms(text_rules: int) -> float:
    code = (
        "import time; t=time.perf_counter();"
        "from benchmarks.dsl_compile import source; from kubegate.dsl.compiler import compile_source;"
        f"r=compile_source(source({text_rules}), 'bench.kgr'); assert not r.errors;"
        "print((time.perf_counter()-t)*1000)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def run(rules: int = 200, rounds: int = 20) -> dict[str, Any]:
    text = source(rules)
    schemas = SchemaSet()
    first = compile_source(text, "bench.kgr", schemas)
    if first.errors:
        raise SystemExit("\n".join(str(e) for e in first.errors[:5]))
    samples = []
    for _ in range(rounds):
        t = time.perf_counter()
        compile_source(text, "bench.kgr", schemas)
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return {
        "rules": len(first.rules),
        "rounds": rounds,
        "warm_p50_ms": round(statistics.median(samples), 1),
        "warm_p99_ms": round(samples[max(0, int(len(samples) * 0.99) - 1)], 1),
        "warm_max_ms": round(samples[-1], 1),
        "cold_process_ms": round(_cold_ms(rules), 1),
        "rego_bytes": sum(len(r.text) for r in first.rules),
    }
