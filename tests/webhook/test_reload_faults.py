"""Fault run of hot reload: policy files rewritten over and over while a real server is under load.

Three files, one per policy kind (a plain Rego package, a DSL file, a
ConstraintTemplate with its constraint), each deny one Pod (labelled
``target: <kind>``) in every version the writer puts there; the versions
differ by their messages. The load sends the three Pods in turn, so every
allowed answer is a wrong allow: the server served a half-written file (a
prefix that still loads: the ``package`` line alone, the first of two DSL
rules, the template without its constraint) or nothing for that policy. The
files are rewritten in place (``open`` with ``O_TRUNC``, written in chunks
with short pauses so that each prefix is visible on disk, as ``cp``, ``echo
>`` and many editors do), then by writing a temporary file and renaming it
over (atomic: only whole versions are ever visible).
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from kubegate.webhook.certs import CertificateFiles
from tests.webhook.conftest import Webhook, admission_review, obj, start_webhook

REGO = """# METADATA
# custom:
#   id: faults-rego
package faults.marker

import rego.v1

deny contains msg if {{
	input.review.object.metadata.labels.target == "rego"
	msg := "rego {version}"
}}

deny contains msg if {{
	input.review.object.metadata.name == "never-{version}"
	msg := "never"
}}
"""

DSL = """RULE dsl_guard ON Pod WHEN labels["never"] == "{version}" THEN DENY("never")
RULE dsl_marker ON Pod WHEN labels["target"] == "dsl" THEN DENY("dsl {version}")
"""

TEMPLATE = """apiVersion: templates.gatekeeper.sh/v1
kind: ConstraintTemplate
metadata: {{name: k8sfaults}}
spec:
  crd: {{spec: {{names: {{kind: K8sFaults}}}}}}
  targets:
  - target: admission.k8s.gatekeeper.sh
    rego: |
      package k8sfaults
      violation[{{"msg": "template {version}"}}] {{ input.review.object.metadata.labels.target == "template" }}
---
apiVersion: constraints.gatekeeper.sh/v1beta1
kind: K8sFaults
metadata: {{name: faults}}
spec: {{}}
"""

# Per file: the label value of the Pod its policy denies, and the denial (``[policy] kind version``).
TARGETS = {"faults.rego": "rego", "faults.kgr": "dsl", "faults.yaml": "template"}
POLICIES = {
    "faults.rego": "[faults-rego] rego ",
    "faults.kgr": "[dsl_marker] dsl ",
    "faults.yaml": "[K8sFaults/faults] template ",
}
TEXTS = {"faults.rego": REGO, "faults.kgr": DSL, "faults.yaml": TEMPLATE}
# Where each text is cut: before the first marker, and at the second one.
CUTS = {
    "faults.rego": ("deny contains", "msg :="),
    "faults.kgr": ("RULE dsl_marker", 'WHEN labels["target"]'),
    "faults.yaml": ("apiVersion: constraints", "{name: faults}"),
}


def chunks(name: str, text: str) -> list[str]:
    """``text`` in three pieces whose first prefix still loads and lacks the denial, the second does not load.

    Rego: the ``package`` block alone, then a cut inside the first rule; DSL: the
    first rule alone, then a cut inside the second; YAML: the template alone,
    then a cut inside the constraint.
    """
    before_first, inside_second = CUTS[name]
    first, second = text.index(before_first), text.index(inside_second)
    # Cuts out of order would write a corrupt file (the DSL guard rule's own
    # `WHEN labels` once cut it before the marker: every in-place write ended
    # in a parse error, and a prefix left alone for two pauses was served).
    assert first < second, f"{name}: cuts out of order"
    return [text[:first], text[first:second], text[second:]]


# The reload's settle interval (docs/lifecycle.md): two reads this far apart must agree.
SETTLE_S = 0.05


def write_in_place(path: Path, text: str, pause_s: Callable[[], float]) -> float:
    """Truncates ``path`` and writes ``text`` in chunks, pausing ``pause_s()`` seconds before each one.

    Returns the longest time (s) a loading prefix (the first chunk) stayed on
    disk alone: the test asks for pauses under the settle interval, but a
    starved test process can oversleep.
    """
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
    visible = first_written = 0.0
    try:
        parts = chunks(path.name, text)
        for k, part in enumerate(parts):
            time.sleep(pause_s())
            now = time.monotonic()
            if k == 1:
                visible = now - first_written
            os.write(fd, part.encode())
            if k == 0:
                first_written = time.monotonic()
    finally:
        os.close(fd)
    return visible


def write_then_rename(path: Path, text: str) -> None:
    tmp = path.with_name("." + path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def pod(target: str) -> dict[str, Any]:
    """The Pod only the policy of ``target`` denies."""
    p = obj("pod-good")
    p["metadata"]["labels"]["target"] = target
    return p


@dataclass
class Load:
    """Sends the three Pods in turn, continuously (at most ``max_rate`` requests/s), and counts the answers."""

    hook: Webhook
    max_rate: float = 300.0
    stop: threading.Event = field(default_factory=threading.Event)
    sent: int = 0
    allowed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TARGETS, 0))
    errors: int = 0
    last: dict[str, str] = field(default_factory=dict)

    def run(self) -> None:
        pause = 1 / self.max_rate
        pods = {name: pod(target) for name, target in TARGETS.items()}
        with self.hook.client(timeout=5) as client:
            while not self.stop.is_set():
                name = list(TARGETS)[self.sent % len(TARGETS)]
                self.sent += 1
                try:
                    reply = client.post("/validate", json=admission_review(pods[name]))
                    response = reply.json()["response"]
                except (httpx.HTTPError, ValueError, KeyError):
                    self.errors += 1
                    continue
                if response.get("allowed"):
                    self.allowed[name] += 1  # a failure-mode or error deny is fine, an allow is wrong
                self.last[name] = str(response.get("status", {}).get("message", ""))
                time.sleep(pause)

    def counts(self) -> tuple[int, int]:
        """Requests sent, wrong allows."""
        return self.sent, sum(self.allowed.values())


def test_rewrites_in_place_and_by_rename_never_allow(tmp_path: Path, certs: CertificateFiles) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    for name, text in TEXTS.items():
        (policies / name).write_text(text.format(version="v0"))
    hook = start_webhook(tmp_path, certs, "--no-builtin", "-p", str(policies), "--cache-ttl", "0")
    load = Load(hook)
    sender = threading.Thread(target=load.run, daemon=True)
    rng = random.Random(20240611)
    names = list(TEXTS)
    last: dict[str, str] = {}
    try:
        for name, target in TARGETS.items():
            assert hook.review(admission_review(pod(target)))["status"]["message"] == POLICIES[name] + "v0"
        sender.start()
        started = time.monotonic()
        overslept: dict[str, int] = dict.fromkeys(TEXTS, 0)
        for i in range(102):
            name = names[i % 3]
            last[name] = f"v{i + 1}"
            pause = lambda: rng.uniform(0.005, 0.03)  # noqa: E731
            if write_in_place(policies / name, TEXTS[name].format(version=last[name]), pause) >= SETTLE_S:
                overslept[name] += 1
            time.sleep(rng.uniform(0.02, 0.12))
        in_place_s = time.monotonic() - started
        in_place, in_place_allowed = load.counts(), dict(load.allowed)
        for i in range(102, 204):
            name = names[i % 3]
            last[name] = f"v{i + 1}"
            write_then_rename(policies / name, TEXTS[name].format(version=last[name]))
            time.sleep(rng.uniform(0.02, 0.12))
        final = {name: POLICIES[name] + version for name, version in last.items()}
        deadline = time.monotonic() + 15
        while any(load.last.get(name) != denial for name, denial in final.items()):
            assert time.monotonic() < deadline, f"{final} never served:\n{hook.log.read_text()[-3000:]}"
            time.sleep(0.05)
        load.stop.set()
        sender.join(10)
        total = load.counts()
        report = (
            f"102 in-place rewrites ({in_place_s:.1f} s): {in_place[1]} wrong allows of {in_place[0]} requests "
            f"{in_place_allowed}; 102 renames: {total[1] - in_place[1]} of {total[0] - in_place[0]}; "
            f"{load.errors} errors; prefixes left alone past the settle interval: {overslept}"
        )
        print(report)
        # The Rego and YAML prefixes have no rule or no policy: held back however
        # long they stay (suspect changes). The DSL prefix (its first rule alone)
        # is caught only by the settle reads, so it may be served when the writer
        # overslept the interval: the documented limit (docs/lifecycle.md).
        assert in_place_allowed["faults.rego"] == 0 and in_place_allowed["faults.yaml"] == 0, report
        if not overslept["faults.kgr"]:
            assert total[1] == 0, report
        else:
            assert load.allowed["faults.rego"] == 0 and load.allowed["faults.yaml"] == 0, report
        assert total[0] >= 600, report
        for name, target in TARGETS.items():
            response = hook.review(admission_review(pod(target)))
            assert response["allowed"] is False and response["status"]["message"] == final[name]
    finally:
        load.stop.set()
        sender.join(10)
        hook.stop()
