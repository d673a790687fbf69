"""What ``kubegate check`` reads: manifests (files, directories, stdin, rendered
kustomizations), ``--parameters`` files, and which documents are not Kubernetes
objects to review."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kubegate.errors import InputError, KubegateError, Location
from kubegate.policy.documents import Document, iter_input_files, load_file, read_text
from kubegate.policy.kustomize import kustomization_file, render_kustomization
from kubegate.policy.match import split_api_version
from kubegate.yamlio import read_yaml_stream

__all__ = ["CONFIGURATION_GROUPS", "load_parameters", "not_a_kubernetes_object", "read_inputs"]


def load_parameters(path: str | None) -> dict[str, Mapping[str, Any]]:
    """Reads ``--parameters``: a YAML mapping ``policy id -> {parameter: value}``.

    Raises:
        InputError: ``invalid_parameters_file``.
    """
    if path is None:
        return {}
    docs = [d for d in _yaml_mappings(path)]
    if len(docs) != 1:
        raise InputError(
            f"{path} must hold one YAML mapping of policy id to parameters",
            Location(path),
            code="invalid_parameters_file",
        )
    out: dict[str, Mapping[str, Any]] = {}
    for key, value in docs[0].items():
        if not isinstance(value, dict):
            raise InputError(
                f"{path}: parameters for {key!r} must be a mapping", Location(path), code="invalid_parameters_file"
            )
        out[str(key)] = value
    return out


def _yaml_mappings(path: str) -> list[dict[str, Any]]:
    """The non-empty documents of a YAML file, read within :mod:`kubegate.yamlio`'s bounds.

    Raises:
        InputError: ``yaml_parse_error`` (or a bound's code: ``yaml_alias_limit``,
            ``document_too_deep`` ...) with the line, ``invalid_parameters_file``.
    """
    text = read_text(path)
    docs = [d.value for d in read_yaml_stream(text, path, pure_python=True) if d.value is not None]
    if not all(isinstance(d, dict) for d in docs):
        raise InputError(f"{path} must hold YAML mappings", Location(path), code="invalid_parameters_file")
    return docs


def read_inputs(
    paths: Sequence[str],
    ignore: re.Pattern[str] | None = None,
    notes: list[KubegateError] | None = None,
    kustomize: bool = False,
) -> tuple[list[Document], list[KubegateError]]:
    """Reads every object under ``paths``; errors are collected per file.

    Files whose path matches ``ignore`` (``re.search``, conftest's ``--ignore``)
    are not read; each is listed in ``notes`` (``ignored_input``). With
    ``kustomize``, a directory among ``paths`` that holds a kustomization file
    is rendered with ``kubectl kustomize`` instead of read file by file
    (:func:`kubegate.policy.kustomize.render_kustomization`); a note says so.
    """
    documents: list[Document] = []
    errors: list[KubegateError] = []
    plain: list[str] = []
    for path in paths:
        found = kustomization_file(path) if kustomize and os.path.isdir(path) else None
        if found is None:
            plain.append(path)
            continue
        try:
            rendered = render_kustomization(path)
        except KubegateError as exc:
            errors.append(exc)
            continue
        documents.extend(rendered)
        if notes is not None:
            notes.append(
                InputError(
                    f"rendered with kubectl kustomize: {len(rendered)} objects",
                    Location(found),
                    code="kustomized_input",
                )
            )
    try:
        files = list(iter_input_files(plain))
    except InputError as exc:
        return documents, [*errors, exc]
    for path in files:
        if ignore is not None and ignore.search(path):
            if notes is not None:
                notes.append(
                    InputError(f"matches --ignore {ignore.pattern!r}; not read", Location(path), code="ignored_input")
                )
            continue
        try:
            documents.extend(load_file(path))
        except KubegateError as exc:
            errors.append(exc)
    return documents, errors


# API groups of configuration files that look like objects but never reach an
# API server (kustomize's Kustomization and Component, skaffold's Config).
CONFIGURATION_GROUPS = frozenset({"kustomize.config.k8s.io", "skaffold"})


def not_a_kubernetes_object(doc: Document) -> str | None:
    """Why ``doc`` is not a Kubernetes object to review, or ``None`` when it is.

    No ``apiVersion`` or no ``kind`` (Helm ``values.yaml``, ``Chart.yaml``, plain
    configuration), a kustomize or skaffold file, or a kubeconfig (``v1``
    ``Config``): kubeconform and conftest users expect these to be passed over.
    """
    if not doc.kind or not doc.api_version:
        missing = " and ".join(k for k, v in (("apiVersion", doc.api_version), ("kind", doc.kind)) if not v)
        return f"document has no {missing}"
    group, _ = split_api_version(doc.api_version)
    if group in CONFIGURATION_GROUPS:
        return f"{doc.api_version} {doc.kind} is a configuration file, not a Kubernetes object"
    if doc.api_version == "v1" and doc.kind == "Config":
        return "a kubeconfig file, not a Kubernetes object"
    return None
