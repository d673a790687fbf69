"""Image signature verification in admission: a Pod with 3 images, cold and cached, and the webhook at 100 req/s.

Starts Debian's ``docker-registry`` (distribution 2.8) on loopback and pushes
signed images with the test-only signer (``tests/images/signer.py``); the
trust policy accepts their key. Measures:

* ``prefetch_cold``: :meth:`ImagePrefetcher.prefetch` of a PCI-scoped Pod
  with 3 images never verified before (3 tag → digest resolutions, 3
  signature tag reads, 3 ECDSA verifications, on the verifier's pool);
* ``prefetch_cached``: the same Pod again (the references are pinned by
  digest, so a cached verification needs no registry request);
* ``review_cold`` / ``review_cached``: ``Engine(image_verifier=...).review``
  of that Pod with the built-in library (prefetch + evaluation), per call;
* ``webhook_100rps``: ``kubegate serve --image-policy`` over HTTPS driven by
  wrk (Debian package ``wrk``) at 100 requests/s for ``--seconds``, the
  decision cache off (``--cache-ttl 0``) so every request runs the
  verification step (answered from the verification cache) and the
  evaluation; and ``webhook_100rps_no_images`` the same without
  ``--image-policy``, for comparison.

Latencies in milliseconds (p50/p99). A benchmark, not a test: it asserts
nothing and never runs in CI. Usage::

    .venv/bin/python benchmarks/images.py [--rounds 40] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import yaml
from tests.images.signer import Pusher, Signer, payload, push_signatures, sign

from benchmarks.webhook_load import _LUA, Server, free_port, run_wrk
from kubegate import Engine
from kubegate.images import Verifier, load_trust_policy
from kubegate.images.prefetch import ImagePrefetcher


def _registry(workdir: Path) -> tuple[str, subprocess.Popen[bytes]]:
    binary = shutil.which("docker-registry")
    if binary is None:
        raise SystemExit("docker-registry is not installed (Debian package docker-registry)")
    port = free_port()
    config = workdir / "registry.yml"
    config.write_text(
        f"version: 0.1\nlog: {{level: error}}\nstorage: {{filesystem: {{rootdirectory: {workdir / 'data'}}}}}\n"
        f"http: {{addr: 127.0.0.1:{port}}}\n"
    )
    process = subprocess.Popen([binary, "serve", str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    host = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            Pusher(host).registry.do_request(f"http://{host}/v2/", "GET")
            return host, process
        except Exception:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("docker-registry did not start")


def _signed(pusher: Pusher, host: str, key: Signer) -> str:
    repo = f"payments/svc-{uuid.uuid4().hex[:10]}"
    digest = pusher.image(repo, "v1")
    push_signatures(pusher, repo, digest, [sign(key, payload(f"{host}/{repo}", digest))])
    return f"{host}/{repo}@{digest}"


def _pod(images: list[str], name: str = "pay") -> dict[str, Any]:
    limits = {"limits": {"cpu": "100m", "memory": "64Mi"}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": "payments", "labels": {"kubegate.io/pci-scope": "true"}},
        "spec": {
            "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": f"c{i}", "image": image, "resources": limits} for i, image in enumerate(images)],
        },
    }


def _stats(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"n": len(ordered), "p50_ms": round(statistics.median(ordered), 3), "p99_ms": round(p99, 3)}


def _timed(call: Any) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000


def _review(pod: dict[str, Any], uid: int) -> str:
    request = {
        "uid": f"u{uid}",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": pod["metadata"]["name"],
        "namespace": "payments",
        "operation": "CREATE",
        "userInfo": {"username": "bench"},
        "object": pod,
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="kubegate-images-"))
    host, registry = _registry(workdir)
    results: dict[str, Any] = {"rounds": args.rounds, "images_per_pod": 3}
    try:
        pusher, key = Pusher(host), Signer.generate("ecdsa")
        (workdir / "release.pub").write_text(key.public_pem())
        trust = {
            "apiVersion": "kubegate.io/v1alpha1",
            "kind": "ImageTrustPolicy",
            "registries": [{"host": host, "insecure": True}],
            "policies": [
                {
                    "name": "payments",
                    "images": [f"{host}/payments/*"],
                    "attestors": [{"name": "release", "key": {"file": "release.pub"}}],
                }
            ],
        }
        policy_file = workdir / "trust-policy.yaml"
        policy_file.write_text(yaml.safe_dump(trust))
        verifier = Verifier(load_trust_policy(str(policy_file)))
        prefetcher = ImagePrefetcher(verifier, timeout_ms=10_000)
        pods = [_pod([_signed(pusher, host, key) for _ in range(3)]) for _ in range(args.rounds)]
        results["prefetch_cold"] = _stats([_timed(lambda p=p: prefetcher.prefetch(p, [""])) for p in pods])
        results["prefetch_cached"] = _stats([_timed(lambda: prefetcher.prefetch(pods[0], [""])) for _ in pods])
        engine = Engine(
            image_verifier=verifier,
            parameters={"pci-image-provenance": {"registries": [f"{host}/"]}},
            expansion=False,
        )
        fresh = [_pod([_signed(pusher, host, key) for _ in range(3)]) for _ in range(args.rounds)]
        engine.review(pods[0])  # warm-up of the evaluator
        results["review_cold"] = _stats([_timed(lambda p=p: engine.review(p)) for p in fresh])
        results["review_cached"] = _stats([_timed(lambda: engine.review(pods[0])) for _ in pods])
        assert engine.review(pods[0]).allowed, "the signed Pod must be admitted"
        verifier.close()
        if shutil.which("wrk") is None:
            results["webhook"] = "skipped: wrk is not installed (Debian package wrk)"
        else:
            script = workdir / "paced.lua"
            script.write_text(_LUA)
            bodies = workdir / "bodies.jsonl"
            bodies.write_text(_review(pods[0], 1) + "\n")
            params = workdir / "params.yaml"
            params.write_text(yaml.safe_dump({"pci-image-provenance": {"registries": [f"{host}/"]}}))
            common = ["--cache-ttl", "0", "--parameters", str(params), "--log-level", "warning"]
            for label, extra in (
                ("webhook_100rps", ["--image-policy", str(policy_file)]),
                ("webhook_100rps_no_images", []),
            ):
                server = Server(workdir, [], [*common, *extra])
                try:
                    run_wrk(server.url, bodies, 100, 2, 8, script)  # warm-up; fills the verification cache
                    results[label] = run_wrk(server.url, bodies, 100, args.seconds, 8, script)
                    metrics = server.get("/metrics")
                    results[label]["image_verifications"] = sum(
                        float(line.rsplit(" ", 1)[1])
                        for line in metrics.splitlines()
                        if line.startswith("kubegate_image_verifications_total{")
                    )
                finally:
                    server.stop()
    finally:
        registry.terminate()
        registry.wait(10)
    out = Path(__file__).parent / "results" / f"images-{time.strftime('%Y%m%dT%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
