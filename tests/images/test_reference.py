"""Image reference parsing and normalisation (distribution/reference's grammar and normalize.go)."""

from __future__ import annotations

import pytest

from kubegate.images import ImageReferenceError, parse_reference

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("nginx", "docker.io", "library/nginx", "latest", None),
        ("nginx:1.27", "docker.io", "library/nginx", "1.27", None),
        ("bitnami/redis:7", "docker.io", "bitnami/redis", "7", None),
        ("index.docker.io/nginx", "docker.io", "library/nginx", "latest", None),
        ("docker.io/library/nginx@" + DIGEST, "docker.io", "library/nginx", None, DIGEST),
        ("localhost/app", "localhost", "app", "latest", None),
        ("localhost:5000/team/app:v1", "localhost:5000", "team/app", "v1", None),
        ("127.0.0.1:5000/payments/api:1.4@" + DIGEST, "127.0.0.1:5000", "payments/api", "1.4", DIGEST),
        ("registry.bank.internal/payments/api", "registry.bank.internal", "payments/api", "latest", None),
        ("[::1]:5000/app:v1", "[::1]:5000", "app", "v1", None),
        ("ghcr.io/org/a_b.c-d/e__f:v1.0-rc_1", "ghcr.io", "org/a_b.c-d/e__f", "v1.0-rc_1", None),
    ],
)
def test_parse_and_normalise(text: str, registry: str, repository: str, tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag, digest)
    assert ref.name == f"{registry}/{repository}"
    assert ref.reference == (digest or tag)
    assert parse_reference(str(ref)) == parse_reference(str(ref))  # printed form parses again


def test_with_digest_keeps_the_tag() -> None:
    ref = parse_reference("nginx:1.27").with_digest(DIGEST)
    assert (str(ref), ref.reference) == (f"docker.io/library/nginx:1.27@{DIGEST}", DIGEST)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "image_reference_invalid"),
        ("Nginx", "image_reference_invalid"),
        ("registry.io/Team/app", "image_reference_invalid"),
        ("nginx:", "image_reference_invalid"),
        ("nginx:-bad", "image_reference_invalid"),
        ("a//b", "image_reference_invalid"),
        ("nginx@sha256:abc", "image_reference_invalid"),
        ("nginx@sha512:" + "ab" * 64, "image_digest_unsupported"),
        ("nginx@sha256:" + "AB" * 32, "image_digest_unsupported"),
        ("a/" + "b" * 260, "image_reference_invalid"),
        ("nginx:" + "t" * 129, "image_reference_invalid"),
    ],
)
def test_refused(text: str, code: str) -> None:
    with pytest.raises(ImageReferenceError) as error:
        parse_reference(text)
    assert error.value.code == code
