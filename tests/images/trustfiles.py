"""Writing trust policy files for tests (the format of docs/images.md)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import yaml

from kubegate.images import TrustPolicy, load_trust_policy


def key_attestor(name: str, *pems: str, identities: list[str] | None = None) -> dict[str, Any]:
    attestor: dict[str, Any] = {"name": name, "keys": [{"pem": pem} for pem in pems]}
    if identities:
        attestor["identities"] = identities
    return attestor


def write_policy(
    directory: Path,
    policies: list[dict[str, Any]],
    registries: list[dict[str, Any]] | None = None,
    settings: dict[str, Any] | None = None,
    name: str = "trust-policy.yaml",
) -> Path:
    document: dict[str, Any] = {"apiVersion": "kubegate.io/v1alpha1", "kind": "ImageTrustPolicy"}
    if settings:
        document["settings"] = settings
    if registries:
        document["registries"] = registries
    document["policies"] = policies
    path = directory / name
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def load(directory: Path, policies: list[dict[str, Any]], **kwargs: Any) -> TrustPolicy:
    return load_trust_policy(str(write_policy(directory, policies, **kwargs)))


def docker_config(directory: Path, host: str, user: str, password: str) -> Path:
    path = directory / "config.json"
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    path.write_text(json.dumps({"auths": {host: {"auth": auth}}}))
    return path
