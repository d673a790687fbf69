"""The trust policy: which images must be signed by whom (the model; files are read by :mod:`.policy_file`).

A :class:`TrustPolicy` holds named :class:`ImagePolicy` entries, each with
image globs, attestors and a mode, and the registries' connection settings.
Its ``version`` is the sha256 of its normalised content (the document as
canonical JSON plus the key material and trusted roots it points at), so
editing a key file changes the version and so every cache key.

Image globs are matched against the normalised repository name
(``registry/path``, see :mod:`.reference`): ``*`` matches within one path
component, ``**`` across components, ``?`` one character of a component.
``registry.bank.internal/payments/*`` matches
``registry.bank.internal/payments/api`` but not ``.../payments/team/api``;
``**`` matches every image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from kubegate.errors import Location
from kubegate.images.keys import PublicKey
from kubegate.images.reference import ImageReference

__all__ = [
    "Attestor",
    "ImagePolicy",
    "KeyAttestor",
    "KeylessAttestor",
    "RegistryConfig",
    "TrustPolicy",
    "glob_match",
]

MODES = ("any-of", "all-of", "count")


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def glob_match(pattern: str, name: str) -> bool:
    """Whether ``name`` (``registry/path``) matches the image glob ``pattern`` (module docstring)."""
    return _glob_regex(pattern).fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class KeyAttestor:
    """A key-based attestor: cosign signatures in the ``sha256-<digest>.sig`` tag.

    Attributes:
        name: the attestor's name (reported as the one that matched).
        keys: the public keys; a signature made by any of them counts.
        identities: globs the signed ``critical.identity.docker-reference``
            must match; empty: it must be the image's own repository.
        location: where the attestor is declared.
    """

    name: str
    keys: tuple[PublicKey, ...]
    identities: tuple[str, ...] = ()
    location: Location | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class KeylessAttestor:
    """A keyless attestor: Sigstore bundles with a Fulcio certificate.

    Attributes:
        name: the attestor's name.
        issuer: the OIDC issuer the certificate must name (exact).
        subject: the certificate identity (SAN), exact; or
        subject_regexp: a regular expression the whole identity must match.
        trusted_root: path of the ``trusted_root.json`` (Fulcio, Rekor, CT
            logs, TSAs), read from the file: no TUF at run time.
        predicate_type: when set, only in-toto attestations (DSSE bundles)
            of this ``predicateType`` count (``https://slsa.dev/provenance/v1``).
        location: where the attestor is declared.
    """

    name: str
    issuer: str
    subject: str | None
    subject_regexp: str | None
    trusted_root: str
    predicate_type: str | None = None
    location: Location | None = field(default=None, compare=False)


Attestor = KeyAttestor | KeylessAttestor


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """One named policy of a trust policy.

    Attributes:
        name: the name ``Verifier.verify(image, policy_name)`` selects it by.
        images: image globs the policy applies to.
        attestors: who may sign.
        mode: ``any-of`` (one attestor suffices), ``all-of`` (every one), or
            ``count`` (at least ``count`` of them).
        count: attestors needed (1 for any-of, all for all-of).
        required: ``False``: the result is recorded but the image is not denied for it.
        annotations: ``optional`` annotations of the signed payload that
            must be present with these values (``{"git-sha": "4f1c..."}``).
        location: where the policy is declared.
    """

    name: str
    images: tuple[str, ...]
    attestors: tuple[Attestor, ...]
    mode: str
    count: int
    required: bool = True
    annotations: tuple[tuple[str, str], ...] = ()
    location: Location | None = field(default=None, compare=False)

    def applies_to(self, ref: ImageReference) -> bool:
        """Whether one of the image globs matches the reference's repository name."""
        return any(glob_match(pattern, ref.name) for pattern in self.images)


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """How to reach one registry.

    Attributes:
        host: ``host[:port]`` as in image references.
        insecure: plain HTTP (loopback and test registries only).
        ca_file: a PEM CA bundle to verify the registry's certificate with.
        auths: Docker ``config.json`` ``auths`` entries (``{"host": {"auth": base64}}``).
        timeout_ms: the time limit of one request (connect and each read).
        retries: further attempts of a request that failed to connect or got a 5xx.
    """

    host: str
    insecure: bool = False
    ca_file: str | None = None
    auths: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    timeout_ms: int = 3000
    retries: int = 1


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """A parsed trust policy file.

    Attributes:
        policies: the image policies, in file order.
        registries: per-host settings; hosts not listed use ``default_registry``.
        default_registry: settings for any other host (``host`` is ``*``).
        version: ``sha256:<hex>`` of the normalised content.
        verified_ttl_s: how long a verified result is cached (seconds).
        failed_ttl_s: how long a failed result is cached (seconds).
        source: the file it was read from.
    """

    policies: tuple[ImagePolicy, ...]
    registries: tuple[RegistryConfig, ...]
    default_registry: RegistryConfig
    version: str
    verified_ttl_s: float = 300.0
    failed_ttl_s: float = 30.0
    source: str = "<trust-policy>"

    def policy(self, name: str) -> ImagePolicy | None:
        """The policy called ``name``, or ``None``."""
        return next((p for p in self.policies if p.name == name), None)

    def match(self, ref: ImageReference) -> ImagePolicy | None:
        """The first policy whose image globs match ``ref``, or ``None``."""
        return next((p for p in self.policies if p.applies_to(ref)), None)

    def registry(self, host: str) -> RegistryConfig:
        """The settings of ``host`` (``default_registry`` when it is not listed)."""
        return next((r for r in self.registries if r.host == host), self.default_registry)
