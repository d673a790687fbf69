"""Certificate chain verification as Go's ``(*x509.Certificate).Verify`` does it for OPA.

OPA's ``crypto.x509.parse_and_verify_certificates*`` take the first certificate
as the root, the last as the leaf and the others as intermediates
(https://github.com/open-policy-agent/opa/blob/main/v1/topdown/crypto.go).
Go's rules reproduced (https://github.com/golang/go/blob/master/src/crypto/x509/verify.go):
every certificate of the chain must be within its validity period at the
verification time; issuers must be CAs (basic constraints, ``keyCertSign``
when a key usage is present) within their path length; signatures must
verify and must not use SHA-1 or MD5; the leaf must not carry unhandled
critical extensions; the DNS name (when given) must match the leaf's SANs;
the requested extended key usages (default ``serverAuth``) must be allowed
along the chain. Name constraints are not checked.
"""

from __future__ import annotations

import datetime
import ipaddress
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from kubegate.evaluator.builtins._gocompat import GoError
from kubegate.evaluator.builtins._x509names import EXT_KEY_USAGES as _EKU_OIDS
from kubegate.evaluator.builtins._x509names import HANDLED_EXTENSIONS as _HANDLED

__all__ = ["EXT_KEY_USAGE_NAMES", "verify_chain"]

EXT_KEY_USAGE_NAMES = {
    "KeyUsageAny": 0,
    "KeyUsageServerAuth": 1,
    "KeyUsageClientAuth": 2,
    "KeyUsageCodeSigning": 3,
    "KeyUsageEmailProtection": 4,
    "KeyUsageIPSECEndSystem": 5,
    "KeyUsageIPSECTunnel": 6,
    "KeyUsageIPSECUser": 7,
    "KeyUsageTimeStamping": 8,
    "KeyUsageOCSPSigning": 9,
    "KeyUsageMicrosoftServerGatedCrypto": 10,
    "KeyUsageNetscapeServerGatedCrypto": 11,
    "KeyUsageMicrosoftCommercialCodeSigning": 12,
    "KeyUsageMicrosoftKernelCodeSigning": 13,
}
"""OPA's ``KeyUsages`` option names and Go's ``x509.ExtKeyUsage`` numbers."""

_MAX_SIGNATURE_CHECKS = 100


def _ext(cert: x509.Certificate, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _check_time(cert: x509.Certificate, now: datetime.datetime) -> None:
    if now < cert.not_valid_before_utc or now > cert.not_valid_after_utc:
        raise GoError("x509: certificate has expired or is not yet valid")


def _can_sign(cert: x509.Certificate) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    if cert.version == x509.Version.v3 and bc is None:
        return False
    if bc is not None and not bc.ca:
        return False
    ku = _ext(cert, x509.KeyUsage)
    return ku is None or bool(ku.key_cert_sign)


def _signed_by(child: x509.Certificate, parent: x509.Certificate) -> bool:
    if child.issuer != parent.subject or not _can_sign(parent):
        return False
    try:
        algorithm = child.signature_hash_algorithm
    except Exception:
        algorithm = None
    if isinstance(algorithm, hashes.SHA1 | hashes.MD5):
        return False  # Go: InsecureAlgorithmError
    try:
        child.verify_directly_issued_by(parent)
    except Exception:
        return False
    return True


def _path_ok(cert: x509.Certificate, intermediates_below: int) -> bool:
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None and bc.path_length is not None:
        return bool(intermediates_below <= bc.path_length)
    return True


def _hostname_ok(cert: x509.Certificate, host: str) -> bool:
    san = _ext(cert, x509.SubjectAlternativeName)
    candidate = host.strip("[]")
    try:
        ip = ipaddress.ip_address(candidate)
    except ValueError:
        ip = None
    if ip is not None:
        return san is not None and ip in san.get_values_for_type(x509.IPAddress)
    wanted = host.lower().rstrip(".")
    for name in san.get_values_for_type(x509.DNSName) if san is not None else []:
        pattern = name.lower().rstrip(".")
        if pattern == wanted:
            return True
        head, _, tail = wanted.partition(".")
        if pattern.startswith("*.") and tail and head and tail == pattern[2:]:
            return True
    return False


def _usages_ok(chain: list[x509.Certificate], requested: list[int]) -> bool:
    if 0 in requested:
        return True
    remaining = list(requested)
    for cert in reversed(chain):
        eku = _ext(cert, x509.ExtendedKeyUsage)
        if eku is None:
            continue
        usages = [_EKU_OIDS.get(o.dotted_string, -1) for o in eku]
        if 0 in usages:
            continue
        remaining = [u for u in remaining if u in usages]
        if not remaining:
            return False
    return True


def verify_chain(
    certs: list[x509.Certificate],
    *,
    dns_name: str = "",
    current_time_ns: int | None = None,
    key_usages: list[int] | None = None,
) -> list[x509.Certificate]:
    """The verified chain, leaf first.

    Raises:
        GoError: the chain does not verify (the text roughly Go's).
    """
    if len(certs) < 2:
        raise GoError("operand 1 must supply at least two certificates to be able to verify")
    root, intermediates, leaf = certs[0], certs[1:-1], certs[-1]
    if current_time_ns is None:
        now = datetime.datetime.now(datetime.UTC)
    else:
        epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
        now = epoch + datetime.timedelta(microseconds=current_time_ns // 1000)
    _check_time(leaf, now)
    for ext in leaf.extensions:
        if ext.critical and ext.oid.dotted_string not in _HANDLED:
            raise GoError("x509: unhandled critical extension")
    if dns_name and not _hostname_ok(leaf, dns_name):
        raise GoError(f"x509: certificate is not valid for {dns_name}")
    requested = key_usages or [1]
    leaf_der = leaf.tbs_certificate_bytes + leaf.signature
    if root.tbs_certificate_bytes + root.signature == leaf_der:
        if _usages_ok([leaf], requested):
            return [leaf]
        raise GoError("x509: certificate specifies an incompatible key usage")
    checks = 0
    found_any = False
    # depth-first search: (chain so far), trying the root before intermediates as Go's pools do
    stack: list[list[x509.Certificate]] = [[leaf]]
    while stack:
        chain = stack.pop()
        current = chain[-1]
        candidates: list[tuple[x509.Certificate, bool]] = [(root, True)] + [(c, False) for c in intermediates]
        extensions: list[list[x509.Certificate]] = []
        for candidate, is_root in candidates:
            if any(candidate is c for c in chain):
                continue
            checks += 1
            if checks > _MAX_SIGNATURE_CHECKS:
                raise GoError("x509: signature check attempts limit reached while verifying certificate chain")
            if not _signed_by(current, candidate):
                continue
            try:
                _check_time(candidate, now)
            except GoError:
                continue
            if not _path_ok(candidate, len(chain) - 1):
                continue
            new_chain = [*chain, candidate]
            if is_root:
                found_any = True
                if _usages_ok(new_chain, requested):
                    return new_chain
                continue
            extensions.append(new_chain)
        stack.extend(reversed(extensions))
    if found_any:
        raise GoError("x509: certificate specifies an incompatible key usage")
    raise GoError("x509: certificate signed by unknown authority")
