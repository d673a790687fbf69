"""Go's JSON shapes of the parts of certificates and keys: ``pkix.Name``, public and
private keys, the ``SignatureAlgorithm``/``PublicKeyAlgorithm``/``ExtKeyUsage`` numbers,
``time.Time`` and ``url.URL`` (https://github.com/golang/go/blob/master/src/crypto/x509/x509.go,
https://github.com/golang/go/blob/master/src/crypto/x509/pkix/pkix.go), as OPA's
https://github.com/open-policy-agent/opa/blob/main/v1/topdown/crypto.go returns them.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import re
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519, rsa

__all__ = [
    "EXT_KEY_USAGES",
    "HANDLED_EXTENSIONS",
    "b64",
    "go_time",
    "ip_net",
    "is_net",
    "name_to_value",
    "oid_list",
    "private_key_to_value",
    "public_key_algorithm",
    "public_key_to_value",
    "signature_algorithm",
    "url_to_value",
]


def b64(data: bytes | None) -> str | None:
    return None if data is None else base64.b64encode(data).decode("ascii")


def oid_list(dotted: str) -> list[int]:
    return [int(p) for p in dotted.split(".")]


_NAME_FIELDS = {
    "2.5.4.6": "Country",
    "2.5.4.10": "Organization",
    "2.5.4.11": "OrganizationalUnit",
    "2.5.4.7": "Locality",
    "2.5.4.8": "Province",
    "2.5.4.9": "StreetAddress",
    "2.5.4.17": "PostalCode",
}


def name_to_value(name: x509.Name) -> dict[str, Any]:
    """``pkix.Name`` as JSON."""
    out: dict[str, Any] = {field: None for field in _NAME_FIELDS.values()}
    out.update({"SerialNumber": "", "CommonName": "", "ExtraNames": None})
    names = []
    for rdn in name.rdns:
        for attr in rdn:
            dotted = attr.oid.dotted_string
            value: Any = attr.value
            if isinstance(value, bytes):
                value = b64(value)
            names.append({"Type": oid_list(dotted), "Value": value})
            if not isinstance(attr.value, str):
                continue
            if dotted == "2.5.4.3":
                out["CommonName"] = attr.value
            elif dotted == "2.5.4.5":
                out["SerialNumber"] = attr.value
            elif dotted in _NAME_FIELDS:
                field = _NAME_FIELDS[dotted]
                out[field] = [*(out[field] or []), attr.value]
    out["Names"] = names or None
    return out


def public_key_to_value(key: Any) -> Any:
    """A Go public key as JSON (``*rsa.PublicKey``, ``*ecdsa.PublicKey``, ``ed25519.PublicKey``)."""
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        return {"N": numbers.n, "E": numbers.e}
    if isinstance(key, ec.EllipticCurvePublicKey):
        point = key.public_numbers()
        return {"Curve": {}, "X": point.x, "Y": point.y}
    if isinstance(key, ed25519.Ed25519PublicKey):
        return b64(key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))
    if isinstance(key, dsa.DSAPublicKey):
        dn = key.public_numbers()
        params = dn.parameter_numbers
        return {"Parameters": {"P": params.p, "Q": params.q, "G": params.g}, "Y": dn.y}
    return None


def public_key_algorithm(key: Any) -> int:
    if isinstance(key, rsa.RSAPublicKey):
        return 1
    if isinstance(key, dsa.DSAPublicKey):
        return 2
    if isinstance(key, ec.EllipticCurvePublicKey):
        return 3
    if isinstance(key, ed25519.Ed25519PublicKey):
        return 4
    return 0


def private_key_to_value(key: Any) -> Any:
    """A Go private key as JSON (``*rsa.PrivateKey``, ``*ecdsa.PrivateKey``, ``ed25519.PrivateKey``)."""
    if isinstance(key, rsa.RSAPrivateKey):
        n = key.private_numbers()
        return {
            "N": n.public_numbers.n,
            "E": n.public_numbers.e,
            "D": n.d,
            "Primes": [n.p, n.q],
            "Precomputed": {"Dp": n.dmp1, "Dq": n.dmq1, "Qinv": n.iqmp, "CRTValues": []},
        }
    if isinstance(key, ec.EllipticCurvePrivateKey):
        en = key.private_numbers()
        return {"Curve": {}, "X": en.public_numbers.x, "Y": en.public_numbers.y, "D": en.private_value}
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(
            serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
        )
        pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return b64(seed + pub)
    return None


_SIG_ALGS = {
    "1.2.840.113549.1.1.2": 1,
    "1.2.840.113549.1.1.4": 2,
    "1.2.840.113549.1.1.5": 3,
    "1.3.14.3.2.29": 3,
    "1.2.840.113549.1.1.11": 4,
    "1.2.840.113549.1.1.12": 5,
    "1.2.840.113549.1.1.13": 6,
    "1.2.840.10040.4.3": 7,
    "2.16.840.1.101.3.4.3.2": 8,
    "1.2.840.10045.4.1": 9,
    "1.2.840.10045.4.3.2": 10,
    "1.2.840.10045.4.3.3": 11,
    "1.2.840.10045.4.3.4": 12,
    "1.3.101.112": 16,
}


def signature_algorithm(oid: str, hash_alg: Any) -> int:
    """Go's ``x509.SignatureAlgorithm`` number."""
    if oid == "1.2.840.113549.1.1.10":  # RSASSA-PSS: by its hash
        return {"sha256": 13, "sha384": 14, "sha512": 15}.get(getattr(hash_alg, "name", ""), 0)
    return _SIG_ALGS.get(oid, 0)


EXT_KEY_USAGES = {
    "2.5.29.37.0": 0,
    "1.3.6.1.5.5.7.3.1": 1,
    "1.3.6.1.5.5.7.3.2": 2,
    "1.3.6.1.5.5.7.3.3": 3,
    "1.3.6.1.5.5.7.3.4": 4,
    "1.3.6.1.5.5.7.3.5": 5,
    "1.3.6.1.5.5.7.3.6": 6,
    "1.3.6.1.5.5.7.3.7": 7,
    "1.3.6.1.5.5.7.3.8": 8,
    "1.3.6.1.5.5.7.3.9": 9,
    "1.3.6.1.4.1.311.10.3.3": 10,
    "2.16.840.1.113730.4.1": 11,
    "1.3.6.1.4.1.311.2.1.22": 12,
    "1.3.6.1.4.1.311.61.1.1": 13,
}

HANDLED_EXTENSIONS = {
    "2.5.29.14", "2.5.29.15", "2.5.29.17", "2.5.29.19", "2.5.29.30", "2.5.29.31", "2.5.29.32",
    "2.5.29.35", "2.5.29.37", "2.5.29.33", "2.5.29.36", "2.5.29.54", "1.3.6.1.5.5.7.1.1",
}  # fmt: skip


def go_time(value: datetime.datetime) -> str:
    """Go's ``time.Time`` JSON (RFC 3339 with nanoseconds, trailing zeros dropped)."""
    text = value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if value.microsecond:
        text += ("." + f"{value.microsecond:06d}").rstrip("0")
    return text + "Z"


_URL = re.compile(r"^(?:([A-Za-z][A-Za-z0-9+.\-]*):)?(.*)$", re.DOTALL)


def url_to_value(text: str) -> dict[str, Any]:
    """``url.URL`` as JSON, for the URI forms found in certificates."""
    out: dict[str, Any] = {
        "Scheme": "", "Opaque": "", "User": None, "Host": "", "Path": "", "RawPath": "", "OmitHost": False,
        "ForceQuery": False, "RawQuery": "", "Fragment": "", "RawFragment": "",
    }  # fmt: skip
    rest, _, fragment = text.partition("#")
    out["Fragment"] = _unescape(fragment)
    match = _URL.match(rest)
    scheme, rest = (match.group(1) or "", match.group(2)) if match else ("", rest)
    out["Scheme"] = scheme.lower()
    if "?" in rest:
        rest, query = rest.split("?", 1)
        out["RawQuery"] = query
        out["ForceQuery"] = query == ""
    if scheme and not rest.startswith("/"):
        out["Opaque"] = rest
        return out
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        path = slash + path
        if "@" in authority:
            authority = authority.rsplit("@", 1)[1]
            out["User"] = {}
        out["Host"] = authority
        rest = path
    out["Path"] = _unescape(rest)
    return out


def _unescape(text: str) -> str:
    from urllib.parse import unquote

    return unquote(text)


def is_net(value: Any) -> bool:
    return isinstance(value, ipaddress.IPv4Network | ipaddress.IPv6Network)


def ip_net(network: Any) -> dict[str, Any]:
    return {"IP": str(network.network_address), "Mask": b64(network.netmask.packed)}
