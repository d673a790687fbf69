"""Rendering kustomize directories with ``kubectl kustomize`` (``check --kustomize``).

A directory holding a ``kustomization.yaml`` (``.yml``, or ``Kustomization``)
is what kustomize builds; reviewing its files one by one would check the base
without the overlay's patches. kubegate runs the real tool, ``kubectl
kustomize DIR`` (https://kubectl.docs.kubernetes.io/references/kustomize/), and
reads its output as a YAML stream. The rendered objects are located at the
directory's kustomization file, line 0 (they have no line of their own); an
object whose ``config.kubernetes.io/origin`` annotation names its source
(``buildMetadata: [originAnnotations]`` in the kustomization) is located at
that file instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import yaml

from kubegate.errors import InputError, Location
from kubegate.policy.documents import Document, load_documents

__all__ = ["KUSTOMIZATION_FILES", "RENDER_TIMEOUT_S", "kustomization_file", "render_kustomization"]

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
RENDER_TIMEOUT_S = 120.0
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"


def kustomization_file(directory: str) -> str | None:
    """The kustomization file of ``directory``, or ``None`` when it has none."""
    for name in KUSTOMIZATION_FILES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    return None


def _origin(obj: Mapping[str, Any], directory: str) -> str | None:
    meta = obj.get("metadata")
    annotations = meta.get("annotations") if isinstance(meta, Mapping) else None
    value = annotations.get(ORIGIN_ANNOTATION) if isinstance(annotations, Mapping) else None
    if not isinstance(value, str):
        return None
    try:
        origin = yaml.safe_load(value)
    except yaml.YAMLError:
        return None
    path = origin.get("path") if isinstance(origin, Mapping) else None
    return os.path.normpath(os.path.join(directory, path)) if isinstance(path, str) and path else None


def render_kustomization(directory: str, kubectl: str = "kubectl") -> list[Document]:
    """The objects ``kubectl kustomize directory`` renders.

    Args:
        directory: a directory with a kustomization file.
        kubectl: the kubectl binary (looked up on ``PATH``).

    Raises:
        InputError: ``kustomize_unavailable`` (no kubectl), ``kustomize_error``
            (kustomize failed: its message, located at the kustomization file;
            or it ran past :data:`RENDER_TIMEOUT_S`), or the YAML errors of
            :func:`kubegate.policy.documents.load_documents` on its output.
    """
    where = kustomization_file(directory) or directory
    binary = shutil.which(kubectl)
    if binary is None:
        raise InputError(
            f"--kustomize needs {kubectl} on PATH to render {directory} (Debian: kubernetes-client)",
            Location(where),
            code="kustomize_unavailable",
        )
    try:
        done = subprocess.run(
            [binary, "kustomize", directory],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise InputError(
            f"kubectl kustomize {directory} ran longer than {RENDER_TIMEOUT_S:.0f} s",
            Location(where),
            code="kustomize_error",
        ) from None
    except OSError as exc:
        raise InputError(f"could not run {binary}: {exc}", Location(where), code="kustomize_unavailable") from None
    if done.returncode != 0:
        message = " ".join(line.strip() for line in done.stderr.splitlines() if line.strip()) or "no message"
        raise InputError(
            f"kubectl kustomize {directory} failed (exit {done.returncode}): {message}",
            Location(where),
            code="kustomize_error",
        )
    rendered = load_documents(done.stdout, f"{where} (rendered)")
    out = []
    for doc in rendered:
        origin = _origin(doc.obj, directory)
        out.append(replace(doc, source=origin or where, line=0))
    return out
