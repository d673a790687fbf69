"""Certificates, requests and keys as OPA returns them: the JSON of Go's structs.

OPA converts Go's ``x509.Certificate``, ``x509.CertificateRequest``,
``tls.Certificate`` and private keys to Rego values through ``encoding/json``.
This module builds the same objects from the ``cryptography`` library's
parsed forms. Fields of ``x509.Certificate`` produced:

``Raw``, ``RawTBSCertificate``, ``RawSubjectPublicKeyInfo``, ``RawSubject``,
``RawIssuer``, ``Signature`` (base64), ``SignatureAlgorithm``,
``PublicKeyAlgorithm`` (Go's enum numbers), ``PublicKey`` (RSA ``{N, E}``,
ECDSA ``{Curve: {}, X, Y}``, Ed25519 base64), ``Version``, ``SerialNumber``,
``Issuer``, ``Subject`` (``pkix.Name``: ``Country`` ... ``CommonName``,
``Names``, ``ExtraNames``), ``NotBefore``, ``NotAfter`` (RFC 3339),
``KeyUsage`` (bits), ``Extensions`` (``{Id, Critical, Value}``),
``ExtraExtensions``, ``UnhandledCriticalExtensions``, ``ExtKeyUsage``,
``UnknownExtKeyUsage``, ``BasicConstraintsValid``, ``IsCA``, ``MaxPathLen``,
``MaxPathLenZero``, ``SubjectKeyId``, ``AuthorityKeyId``, ``OCSPServer``,
``IssuingCertificateURL``, ``DNSNames``, ``EmailAddresses``, ``IPAddresses``,
``URIs`` (``url.URL`` objects), the name-constraint fields,
``CRLDistributionPoints``, ``PolicyIdentifiers``, ``Policies`` (dotted OIDs)
and Go 1.24's policy fields (``InhibitAnyPolicy`` ... ``PolicyMappings``;
always zero/null here: the policy-constraint extensions are not decoded).
``DSA`` public keys give ``PublicKey: null``.
"""

from __future__ import annotations

import warnings
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID

from kubegate.evaluator.builtins._gocompat import GoError
from kubegate.evaluator.builtins._x509der import Tbs, der_split, key_usage_bits
from kubegate.evaluator.builtins._x509names import (
    EXT_KEY_USAGES,
    HANDLED_EXTENSIONS,
    b64,
    go_time,
    ip_net,
    is_net,
    name_to_value,
    oid_list,
    private_key_to_value,
    public_key_algorithm,
    public_key_to_value,
    signature_algorithm,
    url_to_value,
)

__all__ = [
    "cert_to_value",
    "csr_to_value",
    "load_certificates_der",
    "name_to_value",
    "private_key_to_value",
    "public_key_to_value",
]


def _ext(cert: Any, cls: type) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _general_names(names: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {"dns": [], "email": [], "ip": [], "uri": []}
    for name in names or []:
        if isinstance(name, x509.DNSName):
            out["dns"].append(name.value)
        elif isinstance(name, x509.RFC822Name):
            out["email"].append(name.value)
        elif isinstance(name, x509.IPAddress):
            out["ip"].append(name.value)
        elif isinstance(name, x509.UniformResourceIdentifier):
            out["uri"].append(name.value)
    return out


def _or_none(items: list[Any]) -> list[Any] | None:
    return items or None


def _common(obj: Any, tbs: Tbs, raw: bytes, tbs_bytes: bytes) -> dict[str, Any]:
    try:
        key = obj.public_key()
    except Exception:  # unsupported key algorithm: Go leaves it nil
        key = None
    try:
        hash_alg = obj.signature_hash_algorithm
    except Exception:
        hash_alg = None
    return {
        "Raw": b64(raw),
        "RawSubjectPublicKeyInfo": b64(tbs.spki),
        "RawSubject": b64(tbs.subject),
        "Signature": b64(obj.signature),
        "SignatureAlgorithm": signature_algorithm(obj.signature_algorithm_oid.dotted_string, hash_alg),
        "PublicKeyAlgorithm": public_key_algorithm(key),
        "PublicKey": public_key_to_value(key),
        "Subject": name_to_value(obj.subject),
        "Extensions": _or_none(
            [
                {"Id": oid_list(oid), "Critical": critical, "Value": b64(value)}
                for oid, critical, value in tbs.extensions
            ]
        ),
        "ExtraExtensions": None,
    }


def cert_to_value(cert: x509.Certificate, uri_strings: bool = False) -> dict[str, Any]:
    """Go's ``x509.Certificate`` (plus OPA's ``URIStrings`` when asked) as JSON."""
    raw = cert.public_bytes(serialization.Encoding.DER)
    tbs = Tbs(cert.tbs_certificate_bytes)
    out = _common(cert, tbs, raw, cert.tbs_certificate_bytes)
    out.update(
        {
            "RawTBSCertificate": b64(cert.tbs_certificate_bytes),
            "RawIssuer": b64(tbs.issuer),
            "Version": cert.version.value + 1,
            "SerialNumber": cert.serial_number,
            "Issuer": name_to_value(cert.issuer),
            "NotBefore": go_time(cert.not_valid_before_utc),
            "NotAfter": go_time(cert.not_valid_after_utc),
            "KeyUsage": 0,
            "ExtKeyUsage": None,
            "UnknownExtKeyUsage": None,
            "BasicConstraintsValid": False,
            "IsCA": False,
            "MaxPathLen": 0,
            "MaxPathLenZero": False,
            "SubjectKeyId": None,
            "AuthorityKeyId": None,
            "OCSPServer": None,
            "IssuingCertificateURL": None,
            "DNSNames": None,
            "EmailAddresses": None,
            "IPAddresses": None,
            "URIs": None,
            "PermittedDNSDomainsCritical": False,
            "PermittedDNSDomains": None,
            "ExcludedDNSDomains": None,
            "PermittedIPRanges": None,
            "ExcludedIPRanges": None,
            "PermittedEmailAddresses": None,
            "ExcludedEmailAddresses": None,
            "PermittedURIDomains": None,
            "ExcludedURIDomains": None,
            "CRLDistributionPoints": None,
            "PolicyIdentifiers": None,
            "Policies": None,
            "InhibitAnyPolicy": 0,
            "InhibitAnyPolicyZero": False,
            "InhibitPolicyMapping": 0,
            "InhibitPolicyMappingZero": False,
            "RequireExplicitPolicy": 0,
            "RequireExplicitPolicyZero": False,
            "PolicyMappings": None,
            "UnhandledCriticalExtensions": None,
        }
    )
    unhandled = []
    for oid, critical, value in tbs.extensions:
        if oid == "2.5.29.15":
            out["KeyUsage"] = key_usage_bits(value)
        elif critical and oid not in HANDLED_EXTENSIONS:
            unhandled.append(oid_list(oid))
    out["UnhandledCriticalExtensions"] = _or_none(unhandled)
    _fill_extensions(cert, out)
    if uri_strings:
        san = _ext(cert, x509.SubjectAlternativeName)
        uris = _general_names(san)["uri"] if san is not None else []
        out["URIStrings"] = _or_none(uris)
    return out


def _fill_extensions(cert: Any, out: dict[str, Any]) -> None:
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if eku is not None:
        known = [EXT_KEY_USAGES[o.dotted_string] for o in eku if o.dotted_string in EXT_KEY_USAGES]
        unknown = [oid_list(o.dotted_string) for o in eku if o.dotted_string not in EXT_KEY_USAGES]
        out["ExtKeyUsage"], out["UnknownExtKeyUsage"] = _or_none(known), _or_none(unknown)
    bc = _ext(cert, x509.BasicConstraints)
    if bc is not None:
        out["BasicConstraintsValid"] = True
        out["IsCA"] = bc.ca
        out["MaxPathLen"] = -1 if bc.path_length is None else bc.path_length
        out["MaxPathLenZero"] = bc.path_length == 0
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    if ski is not None:
        out["SubjectKeyId"] = b64(ski.digest)
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    if aki is not None and aki.key_identifier is not None:
        out["AuthorityKeyId"] = b64(aki.key_identifier)
    aia = _ext(cert, x509.AuthorityInformationAccess)
    if aia is not None:
        ocsp = [d.access_location.value for d in aia if d.access_method.dotted_string == "1.3.6.1.5.5.7.48.1"
                and isinstance(d.access_location, x509.UniformResourceIdentifier)]  # fmt: skip
        issuers = [d.access_location.value for d in aia if d.access_method.dotted_string == "1.3.6.1.5.5.7.48.2"
                   and isinstance(d.access_location, x509.UniformResourceIdentifier)]  # fmt: skip
        out["OCSPServer"], out["IssuingCertificateURL"] = _or_none(ocsp), _or_none(issuers)
    _fill_san(_ext(cert, x509.SubjectAlternativeName), out)
    nc = None
    try:
        nc_ext = cert.extensions.get_extension_for_class(x509.NameConstraints)
        nc = nc_ext.value
        out["PermittedDNSDomainsCritical"] = nc_ext.critical
    except x509.ExtensionNotFound:
        pass
    if nc is not None:
        for prefix, subtrees in (("Permitted", nc.permitted_subtrees), ("Excluded", nc.excluded_subtrees)):
            names = _general_names(subtrees)
            ranges = [ip_net(n.value) for n in subtrees or [] if isinstance(n, x509.IPAddress) and is_net(n.value)]
            out[f"{prefix}DNSDomains"] = _or_none(names["dns"])
            out[f"{prefix}IPRanges"] = _or_none(ranges)
            out[f"{prefix}EmailAddresses"] = _or_none(names["email"])
            out[f"{prefix}URIDomains"] = _or_none(names["uri"])
    crl = _ext(cert, x509.CRLDistributionPoints)
    if crl is not None:
        points = [n.value for dp in crl for n in dp.full_name or [] if isinstance(n, x509.UniformResourceIdentifier)]
        out["CRLDistributionPoints"] = _or_none(points)
    policies = _ext(cert, x509.CertificatePolicies)
    if policies is not None:
        oids = [p.policy_identifier.dotted_string for p in policies]
        out["PolicyIdentifiers"] = _or_none([oid_list(o) for o in oids])
        out["Policies"] = _or_none(oids)


def _fill_san(san: Any, out: dict[str, Any]) -> None:
    if san is None:
        return
    names = _general_names(san)
    out["DNSNames"] = _or_none(names["dns"])
    out["EmailAddresses"] = _or_none(names["email"])
    out["IPAddresses"] = _or_none([str(ip) for ip in names["ip"]])
    out["URIs"] = _or_none([url_to_value(u) for u in names["uri"]])


def csr_to_value(csr: x509.CertificateSigningRequest) -> dict[str, Any]:
    """Go's ``x509.CertificateRequest`` as JSON."""
    raw = csr.public_bytes(serialization.Encoding.DER)
    tbs_bytes = csr.tbs_certrequest_bytes
    tbs = Tbs(tbs_bytes, request=True)
    exts: list[tuple[str, bool, bytes]] = []
    try:
        for ext in csr.extensions:
            exts.append((ext.oid.dotted_string, ext.critical, ext.value.public_bytes()))
    except Exception:  # extensions Go would still carry as raw values
        exts = []
    tbs.extensions = exts
    out = _common(csr, tbs, raw, tbs_bytes)
    out.update(
        {
            "RawTBSCertificateRequest": b64(tbs_bytes),
            "Version": 0,
            "Attributes": None,
            "DNSNames": None,
            "EmailAddresses": None,
            "IPAddresses": None,
            "URIs": None,
        }
    )
    try:
        san = csr.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME).value
    except Exception:
        san = None
    _fill_san(san, out)
    return out


def load_certificates_der(data: bytes) -> list[x509.Certificate]:
    """``x509.ParseCertificates``: every certificate of concatenated DER.

    Raises:
        GoError: ``x509: malformed certificate``.
    """
    certs = []
    for element in der_split(data):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                cert = x509.load_der_x509_certificate(element)
                _ = cert.extensions  # parse now: Go refuses malformed extensions here
        except Exception:
            raise GoError("x509: malformed certificate") from None
        certs.append(cert)
    return certs
