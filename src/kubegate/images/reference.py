"""Container image references: the Docker reference grammar and its normalisation.

An image reference as a Pod spec holds it (``nginx``, ``nginx:1.27``,
``registry.bank.internal:5000/payments/api@sha256:...``) is parsed by the
grammar of ``github.com/distribution/reference`` (``reference.go``) and
normalised as ``ParseNormalizedNamed`` does (``normalize.go``):

* the first path component is a registry host when it contains ``.`` or
  ``:`` or is ``localhost`` (and is not all lower case otherwise); else the
  registry is ``docker.io``;
* ``index.docker.io`` is ``docker.io``;
* a one-component name on ``docker.io`` gets ``library/`` (``nginx`` is
  ``docker.io/library/nginx``);
* with neither tag nor digest the tag is ``latest``.

Only ``sha256`` digests are accepted: cosign signatures name the image by
its sha256 manifest digest (``sha256-<hex>.sig``), and OCI registries
address manifests by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kubegate.images.errors import ImageReferenceError

__all__ = ["DEFAULT_REGISTRY", "ImageReference", "parse_reference"]

DEFAULT_REGISTRY = "docker.io"
_LEGACY_REGISTRY = "index.docker.io"
_NAME_MAX = 255  # reference.NameTotalLengthMax

# distribution/reference regexp.go, assembled as there.
_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"^(?P<name>(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)"
    rf"(?::(?P<tag>{_TAG}))?(?:@(?P<digest>{_DIGEST}))?$"
)
_SHA256 = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class ImageReference:
    """A normalised image reference.

    Attributes:
        registry: host[:port] (``docker.io`` for Docker Hub).
        repository: the path in the registry (``library/nginx``).
        tag: the tag, ``None`` when only a digest was given.
        digest: ``sha256:<64 hex>`` when given.
        original: the text as written.
    """

    registry: str
    repository: str
    tag: str | None
    digest: str | None
    original: str

    @property
    def name(self) -> str:
        """``registry/repository``: what image globs and signed identities are matched against."""
        return f"{self.registry}/{self.repository}"

    @property
    def reference(self) -> str:
        """The digest when given, else the tag: what the manifest endpoint is asked for."""
        return self.digest or self.tag or "latest"

    def with_digest(self, digest: str) -> ImageReference:
        """This reference pinned to ``digest`` (the tag is kept for display)."""
        return ImageReference(self.registry, self.repository, self.tag, digest, self.original)

    def __str__(self) -> str:
        text = self.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_domain(name: str) -> tuple[str, str]:
    """``splitDockerDomain`` of distribution's ``normalize.go``."""
    first, sep, rest = name.partition("/")
    if not sep or (not any(c in first for c in ".:") and first != "localhost" and first.lower() == first):
        domain, remainder = DEFAULT_REGISTRY, name
    else:
        domain, remainder = first, rest
    if domain == _LEGACY_REGISTRY:
        domain = DEFAULT_REGISTRY
    if domain == DEFAULT_REGISTRY and "/" not in remainder:
        remainder = f"library/{remainder}"
    return domain, remainder


def parse_reference(text: str) -> ImageReference:
    """Parses and normalises an image reference.

    Args:
        text: a reference as written in a Pod spec (``[host[:port]/]path[:tag][@sha256:hex]``).

    Returns:
        The normalised :class:`ImageReference`; the tag is ``latest`` when
        neither tag nor digest is given.

    Raises:
        ImageReferenceError: ``image_reference_invalid`` (grammar, upper-case
            repository, name over 255 characters) or
            ``image_digest_unsupported`` (a digest other than sha256 with 64
            lower-case hex digits).
    """
    if not isinstance(text, str) or not text:
        raise ImageReferenceError("an image reference must be a non-empty string", details={"image": text})
    match = _REFERENCE.match(text)
    if match is None:
        hint = " (repository names must be lower case)" if text.lower() != text else ""
        raise ImageReferenceError(f"{text!r} is not a valid image reference{hint}", details={"image": text})
    name, tag, digest = match.group("name"), match.group("tag"), match.group("digest")
    if len(name) > _NAME_MAX:
        raise ImageReferenceError(
            f"the repository name of {text!r} is longer than {_NAME_MAX} characters", details={"image": text}
        )
    registry, repository = _split_domain(name)
    if repository.lower() != repository:
        raise ImageReferenceError(f"{text!r}: repository names must be lower case", details={"image": text})
    if digest is not None and not _SHA256.match(digest):
        raise ImageReferenceError(
            f"{text!r}: only sha256 digests (64 lower-case hex digits) are supported",
            code="image_digest_unsupported",
            details={"image": text},
        )
    if tag is None and digest is None:
        tag = "latest"
    return ImageReference(registry, repository, tag, digest, text)
