"""Reading trust policy files (YAML, kubegate's own format; docs/images.md "Trust policy file").

The file is read through :mod:`kubegate.yamlio` (its bounds and located
errors); every problem of the content is a
:class:`~kubegate.images.errors.TrustPolicyError` at file:line:col with one
of these codes:

``trust_policy_invalid``
    a value of the wrong type or out of range, a missing field;
``trust_policy_unknown_field``
    a key the format does not have (typos never pass silently);
``trust_policy_duplicate``
    two policies or two attestors of one policy with the same name;
``trust_policy_file_error``
    a key, CA, Docker config or trusted root file that cannot be read;
``trust_policy_secret_not_found``
    a Kubernetes Secret reference the inventory does not hold;
``key_invalid`` / ``key_unsupported``
    a key that is not a PEM public key of a supported type (located here).

Secrets are looked up in an inventory shaped as Gatekeeper's
``data.inventory`` (``namespace.<ns>.v1.Secret.<name>``, ``data`` values
base64 as the API returns them).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from typing import Any

from kubegate.errors import Location
from kubegate.images.bundles import load_trusted_root
from kubegate.images.errors import PublicKeyError, TrustPolicyError
from kubegate.images.keys import PublicKey, load_public_key
from kubegate.images.policy_nodes import Node
from kubegate.images.trust_policy import (
    Attestor,
    ImagePolicy,
    KeyAttestor,
    KeylessAttestor,
    RegistryConfig,
    TrustPolicy,
)
from kubegate.yamlio import read_text, read_yaml

__all__ = ["API_VERSION", "KIND", "load_trust_policy", "parse_trust_policy"]

API_VERSION = "kubegate.io/v1alpha1"
KIND = "ImageTrustPolicy"
_DEFAULT_SECRET_KEY = "cosign.pub"


class _Reader:
    """Builds the model from a located document; collects what versions it (files read)."""

    def __init__(self, source: str, inventory: Mapping[str, Any] | None) -> None:
        self.source = source
        self.base = os.path.dirname(os.path.abspath(source)) if not source.startswith("<") else os.getcwd()
        self.inventory = inventory or {}
        self.material: list[str] = []

    def path(self, node: Node) -> str:
        value = node.string()
        path = os.path.expanduser(value)
        return path if os.path.isabs(path) else os.path.join(self.base, path)

    def read_file(self, node: Node, what: str) -> str:
        path = self.path(node)
        try:
            with open(path, encoding="utf-8") as handle:
                text = handle.read(1 << 22)
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustPolicyError(
                f"cannot read {what} {path}: {exc.strerror if isinstance(exc, OSError) else exc}",
                node.location,
                code="trust_policy_file_error",
            ) from None
        self.material.append(text)
        return text

    def secret(self, node: Node) -> Mapping[str, Any]:
        node.only("namespace", "name", "key")
        namespace, name = node.require("namespace").string(), node.require("name").string()
        found: Any = self.inventory
        for step in ("namespace", namespace, "v1", "Secret", name):
            found = found.get(step) if isinstance(found, Mapping) else None
        if not isinstance(found, Mapping):
            raise TrustPolicyError(
                f"Secret {namespace}/{name} is not in the inventory",
                node.location,
                code="trust_policy_secret_not_found",
            )
        return found

    def secret_value(self, node: Node, default_key: str) -> str:
        secret = self.secret(node)
        key_node = node.get("key")
        key = key_node.string() if key_node is not None else default_key
        data = secret.get("data") if isinstance(secret.get("data"), Mapping) else {}
        value = data.get(key) if isinstance(data, Mapping) else None
        if not isinstance(value, str):
            raise TrustPolicyError(
                f"Secret {node.require('namespace').string()}/{node.require('name').string()} has no key {key!r}",
                node.location,
                code="trust_policy_secret_not_found",
            )
        try:
            text = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TrustPolicyError(f"Secret key {key!r} is not base64 text", node.location) from None
        self.material.append(text)
        return text

    # ------------------------------------------------------------------ attestors

    def key(self, node: Node) -> PublicKey:
        node.only("file", "pem", "secret")
        given = [k for k in ("file", "pem", "secret") if node.get(k) is not None]
        if len(given) != 1:
            raise TrustPolicyError("a key needs exactly one of file, pem or secret", node.location)
        if given[0] == "file":
            pem, where = self.read_file(node.require("file"), "key"), node.require("file").string()
        elif given[0] == "pem":
            pem, where = node.require("pem").string(), "inline key"
        else:
            pem, where = self.secret_value(node.require("secret"), _DEFAULT_SECRET_KEY), "secret key"
        try:
            return load_public_key(pem, where)
        except PublicKeyError as exc:
            raise PublicKeyError(exc.message, node.location, code=exc.code) from None

    def attestor(self, node: Node) -> Attestor:
        node.only("name", "key", "keys", "keyless", "identities")
        name = node.require("name").string()
        keyless = node.get("keyless")
        key_nodes = [*([node.require("key")] if node.get("key") is not None else [])]
        if node.get("keys") is not None:
            key_nodes += node.require("keys").items(minimum=1)
        if (keyless is None) == (not key_nodes):
            raise TrustPolicyError(f"attestor {name!r} needs either key/keys or keyless", node.location)
        if keyless is None:
            identities = tuple(n.string() for n in node.get_items("identities"))
            return KeyAttestor(name, tuple(self.key(k) for k in key_nodes), identities, node.location)
        keyless.only("issuer", "subject", "subjectRegExp", "trustedRoot", "predicateType")
        subject, regexp = keyless.get("subject"), keyless.get("subjectRegExp")
        if (subject is None) == (regexp is None):
            raise TrustPolicyError("keyless needs exactly one of subject or subjectRegExp", keyless.location)
        if regexp is not None:
            regexp.regexp()
        root = keyless.require("trustedRoot")
        self.read_file(root, "trusted root")
        try:
            load_trusted_root(self.path(root))
        except ValueError as exc:
            raise TrustPolicyError(
                f"{root.string()} is not a Sigstore trusted root: {exc}", root.location, code="trust_policy_file_error"
            ) from None
        return KeylessAttestor(
            name,
            keyless.require("issuer").string(),
            subject.string() if subject is not None else None,
            regexp.string() if regexp is not None else None,
            self.path(root),
            keyless.require("predicateType").string() if keyless.get("predicateType") is not None else None,
            node.location,
        )

    def policy(self, node: Node) -> ImagePolicy:
        node.only("name", "images", "attestors", "mode", "count", "required", "annotations")
        name = node.require("name").string()
        images = tuple(n.string() for n in node.require("images").items(minimum=1))
        mode_node = node.get("mode")
        mode = mode_node.choice("any-of", "all-of", "count") if mode_node is not None else "any-of"
        count_node = node.get("count")
        if (mode == "count") != (count_node is not None):
            raise TrustPolicyError("count is given with mode: count, and only then", node.location)
        attestors: list[Attestor] = []
        for item in node.require("attestors").items(minimum=1):
            attestor = self.attestor(item)
            if any(a.name == attestor.name for a in attestors):
                raise TrustPolicyError(
                    f"attestor {attestor.name!r} is declared twice", item.location, code="trust_policy_duplicate"
                )
            attestors.append(attestor)
        count = {"any-of": 1, "all-of": len(attestors)}.get(mode, 0)
        if count_node is not None:
            count = count_node.integer(1, len(attestors))
        required_node = node.get("required")
        required = required_node.boolean() if required_node is not None else True
        annotations = tuple(sorted((k, v.string()) for k, v in node.get_pairs("annotations")))
        return ImagePolicy(name, images, tuple(attestors), mode, count, required, annotations, node.location)

    def registry(self, node: Node, timeout_ms: int, retries: int) -> RegistryConfig:
        node.only("host", "insecure", "caFile", "dockerConfig", "pullSecret", "timeoutMs", "retries")
        auths: dict[str, Mapping[str, str]] = {}
        for key, what in (("dockerConfig", "Docker config"), ("pullSecret", "pull secret")):
            found = node.get(key)
            if found is None:
                continue
            text = (
                self.read_file(found, what) if key == "dockerConfig" else self.secret_value(found, ".dockerconfigjson")
            )
            auths.update(_docker_auths(text, found.location))
        ca = node.get("caFile")
        if ca is not None:
            self.read_file(ca, "CA bundle")
        insecure = node.get("insecure")
        timeout = node.get("timeoutMs")
        retry = node.get("retries")
        return RegistryConfig(
            host=node.require("host").string(),
            insecure=insecure.boolean() if insecure is not None else False,
            ca_file=self.path(ca) if ca is not None else None,
            auths=auths,
            timeout_ms=timeout.integer(1, 600_000) if timeout is not None else timeout_ms,
            retries=retry.integer(0, 10) if retry is not None else retries,
        )


def _docker_auths(text: str, location: Location) -> dict[str, Mapping[str, str]]:
    """The ``auths`` of a Docker config.json (``{"auths": {host: {"auth": b64}}}``)."""
    try:
        config = json.loads(text)
    except ValueError:
        raise TrustPolicyError("the Docker config is not JSON", location) from None
    auths = config.get("auths") if isinstance(config, dict) else None
    if not isinstance(auths, dict):
        raise TrustPolicyError("the Docker config has no auths mapping", location)
    return {
        str(host): {"auth": str(entry["auth"])}
        for host, entry in auths.items()
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str)
    }


def parse_trust_policy(text: str, source: str, inventory: Mapping[str, Any] | None = None) -> TrustPolicy:
    """Parses a trust policy document.

    Args:
        text: the YAML text.
        source: its file name (relative paths in it are relative to its directory).
        inventory: Gatekeeper-shaped inventory for ``secret`` key and
            ``pullSecret`` references.

    Raises:
        TrustPolicyError: the codes of the module docstring, located.
        PublicKeyError: ``key_invalid``, ``key_unsupported``, located.
        InputError: the YAML reader's codes (``yaml_parse_error`` ...).
    """
    document = read_yaml(text, source, pure_python=False)
    if document is None:
        raise TrustPolicyError("the trust policy file is empty", Location(source, 1, 1))
    root = Node(document.value, document.node, source, text.splitlines())
    root.only("apiVersion", "kind", "settings", "registries", "policies")
    if root.require("apiVersion").string() != API_VERSION or root.require("kind").string() != KIND:
        raise TrustPolicyError(f"expected apiVersion {API_VERSION} and kind {KIND}", root.location)
    reader = _Reader(source, inventory)
    settings = root.get("settings")
    timeout_ms, retries, verified_ttl, failed_ttl = 3000, 1, 300.0, 30.0
    if settings is not None:
        settings.only("timeoutMs", "retries", "verifiedTtlSeconds", "failedTtlSeconds")
        if settings.get("timeoutMs") is not None:
            timeout_ms = settings.require("timeoutMs").integer(1, 600_000)
        if settings.get("retries") is not None:
            retries = settings.require("retries").integer(0, 10)
        if settings.get("verifiedTtlSeconds") is not None:
            verified_ttl = settings.require("verifiedTtlSeconds").number(0, 86_400)
        if settings.get("failedTtlSeconds") is not None:
            failed_ttl = settings.require("failedTtlSeconds").number(0, 86_400)
    registries = tuple(reader.registry(n, timeout_ms, retries) for n in root.get_items("registries"))
    policies: list[ImagePolicy] = []
    for item in root.require("policies").items(minimum=1):
        policy = reader.policy(item)
        if any(p.name == policy.name for p in policies):
            raise TrustPolicyError(
                f"policy {policy.name!r} is declared twice", item.location, code="trust_policy_duplicate"
            )
        policies.append(policy)
    canonical = json.dumps(document.value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(canonical.encode())
    for material in reader.material:
        digest.update(b"\0" + hashlib.sha256(material.encode()).digest())
    return TrustPolicy(
        policies=tuple(policies),
        registries=registries,
        default_registry=RegistryConfig("*", timeout_ms=timeout_ms, retries=retries),
        version="sha256:" + digest.hexdigest(),
        verified_ttl_s=verified_ttl,
        failed_ttl_s=failed_ttl,
        source=source,
    )


def load_trust_policy(path: str, inventory: Mapping[str, Any] | None = None) -> TrustPolicy:
    """Reads and parses the trust policy file at ``path`` (:func:`parse_trust_policy`).

    Raises:
        InputError: the file cannot be read (``file_not_found`` ...), or the reader's codes.
        TrustPolicyError, PublicKeyError: as :func:`parse_trust_policy`.
    """
    return parse_trust_policy(read_text(path), path, inventory)
