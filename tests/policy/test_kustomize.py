"""`kubectl kustomize` rendering for `check --kustomize`, with the real kubectl
(`make test` installs Debian's kubernetes-client when it is missing)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kubegate.errors import InputError
from kubegate.policy.kustomize import kustomization_file, render_kustomization

pytestmark = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl missing: run `make test`")

DEPLOYMENT = """apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: web:1.0
"""


def tree(root: Path, origin: bool = False) -> Path:
    base = root / "base"
    base.mkdir(parents=True)
    (base / "deployment.yaml").write_text(DEPLOYMENT)
    (base / "kustomization.yaml").write_text("resources:\n  - deployment.yaml\n")
    overlay = root / "overlays" / "prod"
    overlay.mkdir(parents=True)
    build = "buildMetadata: [originAnnotations]\n" if origin else ""
    (overlay / "kustomization.yaml").write_text(
        f"{build}resources:\n  - ../../base\nnamespace: prod\nimages:\n  - name: web\n    newTag: latest\n"
    )
    return overlay


def test_an_overlay_renders_with_its_changes(tmp_path: Path) -> None:
    overlay = tree(tmp_path)
    [doc] = render_kustomization(str(overlay))
    assert doc.obj["metadata"]["namespace"] == "prod"
    assert doc.obj["spec"]["template"]["spec"]["containers"][0]["image"] == "web:latest"
    assert doc.source == str(overlay / "kustomization.yaml") and doc.line == 0


def test_origin_annotations_locate_objects_at_their_file(tmp_path: Path) -> None:
    overlay = tree(tmp_path, origin=True)
    [doc] = render_kustomization(str(overlay))
    assert Path(doc.source).resolve() == (tmp_path / "base" / "deployment.yaml").resolve()


def test_a_broken_kustomization_is_a_located_error(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(InputError) as info:
        render_kustomization(str(tmp_path))
    assert info.value.code == "kustomize_error"
    assert info.value.location is not None and info.value.location.file == str(tmp_path / "kustomization.yaml")
    assert "missing.yaml" in info.value.message


def test_without_kubectl_the_error_says_what_to_install(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: []\n")
    with pytest.raises(InputError, match="kubernetes-client") as info:
        render_kustomization(str(tmp_path), kubectl="kubectl-that-is-not-installed")
    assert info.value.code == "kustomize_unavailable"


def test_kustomization_file_names(tmp_path: Path) -> None:
    assert kustomization_file(str(tmp_path)) is None
    (tmp_path / "Kustomization").write_text("resources: []\n")
    assert kustomization_file(str(tmp_path)) == str(tmp_path / "Kustomization")
