"""Keys, certificates and tokens made at test time for the crypto and token cases.

Everything is generated with ``cryptography`` (independently of the code under
test) once per test session; :func:`material` maps placeholder names, used as
``${NAME}`` in ``cases/crypto.yaml`` and ``cases/tokens.yaml``, to strings.
"""

from __future__ import annotations

import base64
import datetime
import functools
import hashlib
import hmac
import ipaddress
import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

UTC = datetime.UTC


def _name(cn: str, org: str = "kubegate test") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _when(year: int) -> datetime.datetime:
    return datetime.datetime(year, 1, 1, tzinfo=UTC)


def _ca(
    subject: str, key: Any, issuer: x509.Name | None, issuer_key: Any, serial: int, path_length: int | None = 1
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer or _name(subject))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_when(2020))
        .not_valid_after(_when(2040))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    return builder.sign(issuer_key, hashes.SHA256())


def _leaf(
    cn: str,
    key: Any,
    issuer: x509.Certificate,
    issuer_key: Any,
    *,
    serial: int = 4242,
    start: int = 2021,
    end: int = 2039,
    usages: list[Any] | None = None,
    algorithm: Any = None,
    full: bool = False,
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(issuer.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(_when(start))
        .not_valid_after(_when(end))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(usages or [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName(cn),
                    x509.DNSName("*.apps.example.com"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.UniformResourceIdentifier("spiffe://example.com/opa"),
                    x509.RFC822Name("admin@example.com"),
                ]
            ),
            critical=False,
        )
    )
    if full:
        builder = (
            builder.add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=True,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=False,
                    crl_sign=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier(b"\x01\x02\x03\x04"), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier(b"\x0a\x0b\x0c", None, None),
                critical=False,
            )
            .add_extension(
                x509.AuthorityInformationAccess(
                    [
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.OCSP,
                            x509.UniformResourceIdentifier("http://ocsp.example.com"),
                        ),
                        x509.AccessDescription(
                            AuthorityInformationAccessOID.CA_ISSUERS,
                            x509.UniformResourceIdentifier("http://ca.example.com/ca.der"),
                        ),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CRLDistributionPoints(
                    [
                        x509.DistributionPoint(
                            [x509.UniformResourceIdentifier("http://crl.example.com/ca.crl")], None, None, None
                        )
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.CertificatePolicies([x509.PolicyInformation(x509.ObjectIdentifier("2.23.140.1.2.1"), None)]),
                critical=False,
            )
        )
    return builder.sign(issuer_key, algorithm or hashes.SHA256())


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _key_pem(key: Any, fmt: serialization.PrivateFormat = serialization.PrivateFormat.PKCS8) -> str:
    data: bytes = key.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption())
    return data.decode()


def _pub_pem(key: Any) -> str:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _uint(value: int, size: int = 0) -> str:
    return _b64url(value.to_bytes(max((value.bit_length() + 7) // 8, size, 1), "big"))


def _rsa_jwk(key: rsa.RSAPrivateKey, private: bool, **extra: str) -> dict[str, Any]:
    n = key.private_numbers()
    out: dict[str, Any] = {"kty": "RSA", "n": _uint(n.public_numbers.n), "e": _uint(n.public_numbers.e), **extra}
    if private:
        out.update({"d": _uint(n.d), "p": _uint(n.p), "q": _uint(n.q)})
        out.update({"dp": _uint(n.dmp1), "dq": _uint(n.dmq1), "qi": _uint(n.iqmp)})
    return out


def _ec_jwk(key: ec.EllipticCurvePrivateKey, crv: str, size: int, private: bool, **extra: str) -> dict[str, Any]:
    n = key.private_numbers()
    out: dict[str, Any] = {
        "kty": "EC",
        "crv": crv,
        "x": _uint(n.public_numbers.x, size),
        "y": _uint(n.public_numbers.y, size),
        **extra,
    }
    if private:
        out["d"] = _uint(n.private_value, size)
    return out


def _token(header: dict[str, Any], claims: dict[str, Any] | str, signer: Any) -> str:
    head = _b64url(json.dumps(header, separators=(",", ":")).encode())
    body = claims if isinstance(claims, str) else json.dumps(claims, separators=(",", ":"))
    message = head + "." + _b64url(body.encode())
    return message + "." + _b64url(signer(message.encode()))


def _hs(secret: bytes, digest: Any = hashlib.sha256) -> Any:
    return lambda m: hmac.new(secret, m, digest).digest()


def _rs(key: rsa.RSAPrivateKey, pss: bool = False, algorithm: Any = None) -> Any:
    algorithm = algorithm or hashes.SHA256()
    pad = padding.PSS(padding.MGF1(algorithm), padding.PSS.DIGEST_LENGTH) if pss else padding.PKCS1v15()
    return lambda m: key.sign(m, pad, algorithm)


def _es(key: ec.EllipticCurvePrivateKey, size: int, algorithm: Any) -> Any:
    def sign(message: bytes) -> bytes:
        r, s = utils.decode_dss_signature(key.sign(message, ec.ECDSA(algorithm)))
        return r.to_bytes(size, "big") + s.to_bytes(size, "big")

    return sign


CLAIMS = {"iss": "kubegate", "aud": "svc", "sub": "alice", "exp": 2000000000, "nbf": 1500000000}
"""The claims of the generated tokens (valid at the cases' clock, 1.7e9 seconds)."""


@functools.cache
def material() -> dict[str, str]:
    """Placeholder name -> text."""
    root_key = ec.generate_private_key(ec.SECP256R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other_key = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    rsa2 = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    root = _ca("Test Root CA", root_key, None, root_key, 1)
    inter = _ca("Test Intermediate CA", inter_key, root.subject, root_key, 2, path_length=0)
    leaf = _leaf("leaf.example.com", leaf_key, inter, inter_key, full=True)
    expired = _leaf("old.example.com", leaf_key, inter, inter_key, start=2000, end=2001)
    other_root = _ca("Other Root CA", other_key, None, other_key, 3)
    stranger = _leaf("stranger.example.com", leaf_key, other_root, other_key)
    forged = _leaf("forged.example.com", leaf_key, inter, other_key)
    codesign = _leaf("code.example.com", leaf_key, inter, inter_key, usages=[ExtendedKeyUsageOID.CODE_SIGNING])
    direct = _leaf("direct.example.com", leaf_key, root, root_key)
    self_signed = _leaf("self.example.com", rsa2, _ca("self.example.com", rsa2, None, rsa2, 9), rsa2, serial=9)
    ed_cert = _leaf("ed.example.com", ed, root, root_key)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name("csr.example.com"))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("csr.example.com")]), critical=False)
        .sign(leaf_key, hashes.SHA256())
    )

    out: dict[str, str] = {
        "ROOT_PEM": _pem(root),
        "INTER_PEM": _pem(inter),
        "LEAF_PEM": _pem(leaf),
        "CHAIN_PEM": _pem(root) + _pem(inter) + _pem(leaf),
        "CHAIN_B64": _b64((_pem(root) + _pem(inter) + _pem(leaf)).encode()),
        "CHAIN_DER_B64": _b64(b"".join(c.public_bytes(serialization.Encoding.DER) for c in (root, inter, leaf))),
        "LEAF_DER_B64": _b64(leaf.public_bytes(serialization.Encoding.DER)),
        "EXPIRED_CHAIN_PEM": _pem(root) + _pem(inter) + _pem(expired),
        "STRANGER_CHAIN_PEM": _pem(root) + _pem(inter) + _pem(stranger),
        "FORGED_CHAIN_PEM": _pem(root) + _pem(inter) + _pem(forged),
        "CODESIGN_CHAIN_PEM": _pem(root) + _pem(inter) + _pem(codesign),
        "DIRECT_CHAIN_PEM": _pem(root) + _pem(direct),
        "ROOT_ONLY_PEM": _pem(root),
        "SELF_PEM": _pem(self_signed),
        "SELF_KEY_PKCS8": _key_pem(rsa2),
        "SELF_KEY_PKCS1": _key_pem(rsa2, serialization.PrivateFormat.TraditionalOpenSSL),
        "SELF_KEY_N": str(rsa2.public_key().public_numbers().n),
        "LEAF_KEY_PKCS8": _key_pem(leaf_key),
        "ED_CERT_PEM": _pem(ed_cert),
        "ED_KEY_PEM": _key_pem(ed),
        "EC_KEY_SEC1": _key_pem(inter_key, serialization.PrivateFormat.TraditionalOpenSSL),
        "EC_KEY_D": str(inter_key.private_numbers().private_value),
        "CSR_PEM": csr.public_bytes(serialization.Encoding.PEM).decode(),
        "CSR_B64": _b64(csr.public_bytes(serialization.Encoding.DER)),
        "RSA_PUB_PEM": _pub_pem(leaf_key),
        "RSA2_PUB_PEM": _pub_pem(rsa2),
        "EC_PUB_PEM": _pub_pem(inter_key),
        "EC384_PUB_PEM": _pub_pem(ec384),
        "ED_PUB_PEM": _pub_pem(ed),
        "RSA_JWK": json.dumps(_rsa_jwk(leaf_key, False, kid="rsa1", alg="RS256")),
        "RSA_PRIVATE_JWK": json.dumps(_rsa_jwk(leaf_key, True)),
        "RSA_PRIVATE_JWK_MIN": json.dumps({k: v for k, v in _rsa_jwk(leaf_key, True).items() if k in "kty n e d"}),
        "EC_JWK": json.dumps(_ec_jwk(inter_key, "P-256", 32, False, kid="ec1", alg="ES256")),
        "EC_PRIVATE_JWK": json.dumps(_ec_jwk(inter_key, "P-256", 32, True)),
        "EC384_PRIVATE_JWK": json.dumps(_ec_jwk(ec384, "P-384", 48, True)),
        "JWKS": json.dumps(
            {
                "keys": [
                    _ec_jwk(inter_key, "P-256", 32, False, kid="ec1", alg="ES256"),
                    _rsa_jwk(rsa2, False, kid="other", alg="RS256"),
                    _rsa_jwk(leaf_key, False, kid="rsa1", alg="RS256"),
                    {"kty": "RSA", "n": "AQAB", "e": "AQAB", "alg": "XX999", "kid": "weird"},
                ]
            }
        ),
        "ED_JWK_PRIVATE": json.dumps(
            {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": _b64url(ed.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)),
                "d": _b64url(
                    ed.private_bytes(
                        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
                    )
                ),
            }
        ),
        "OCT_JWK": json.dumps({"kty": "oct", "k": _b64url(b"s3cret")}),
    }
    rs = _rs(leaf_key)
    out["TOKEN_RS256"] = _token({"alg": "RS256", "typ": "JWT", "kid": "rsa1"}, CLAIMS, rs)
    out["TOKEN_RS384"] = _token({"alg": "RS384"}, CLAIMS, _rs(leaf_key, algorithm=hashes.SHA384()))
    out["TOKEN_RS512"] = _token({"alg": "RS512"}, CLAIMS, _rs(leaf_key, algorithm=hashes.SHA512()))
    out["TOKEN_PS256"] = _token({"alg": "PS256"}, CLAIMS, _rs(leaf_key, pss=True))
    out["TOKEN_PS512"] = _token({"alg": "PS512"}, CLAIMS, _rs(leaf_key, pss=True, algorithm=hashes.SHA512()))
    out["TOKEN_ES256"] = _token({"alg": "ES256", "kid": "ec1"}, CLAIMS, _es(inter_key, 32, hashes.SHA256()))
    out["TOKEN_ES384"] = _token({"alg": "ES384"}, CLAIMS, _es(ec384, 48, hashes.SHA384()))
    out["TOKEN_EDDSA"] = _token({"alg": "EdDSA"}, CLAIMS, ed.sign)
    hs = _hs(b"s3cret")
    out["TOKEN_HS256"] = _token({"alg": "HS256", "typ": "JWT"}, CLAIMS, hs)
    out["TOKEN_HS384"] = _token({"alg": "HS384"}, CLAIMS, _hs(b"s3cret", hashlib.sha384))
    out["TOKEN_HS512"] = _token({"alg": "HS512"}, CLAIMS, _hs(b"s3cret", hashlib.sha512))
    out["TOKEN_HS256_EXPIRED"] = _token({"alg": "HS256"}, {**CLAIMS, "exp": 1600000000}, hs)
    out["TOKEN_HS256_FUTURE"] = _token({"alg": "HS256"}, {**CLAIMS, "nbf": 1800000000}, hs)
    out["TOKEN_HS256_AUDS"] = _token({"alg": "HS256"}, {**CLAIMS, "aud": ["a", "svc"]}, hs)
    out["TOKEN_HS256_NO_AUD"] = _token({"alg": "HS256"}, {"iss": "kubegate"}, hs)
    out["TOKEN_HS256_BAD_NBF"] = _token({"alg": "HS256"}, {"nbf": "soon"}, hs)
    out["TOKEN_HS256_ARRAY"] = _token({"alg": "HS256"}, "[1,2]", hs)
    out["TOKEN_CRIT"] = _token({"alg": "HS256", "crit": ["exotic"], "exotic": 1}, CLAIMS, hs)
    out["TOKEN_CRIT_KNOWN"] = _token({"alg": "HS256", "crit": ["kid"], "kid": "x"}, CLAIMS, hs)
    out["TOKEN_NONE"] = _token({"alg": "none"}, CLAIMS, lambda m: b"")
    out["TOKEN_BAD_ALG_TYPE"] = _token({"alg": 1}, CLAIMS, hs)
    inner = out["TOKEN_HS256"]
    out["TOKEN_NESTED"] = _token({"alg": "HS256", "cty": "JWT"}, json.dumps(inner), hs)
    out["TOKEN_NESTED_RAW"] = _token({"alg": "HS256", "cty": "jwt"}, inner, hs)
    return out


def substitute(value: Any) -> Any:
    """``value`` with every ``${NAME}`` in its strings replaced."""
    if isinstance(value, str):
        if "${" not in value:
            return value
        for name, text in material().items():
            value = value.replace("${" + name + "}", text)
        return value
    if isinstance(value, list):
        return [substitute(v) for v in value]
    if isinstance(value, dict):
        return {substitute(k): substitute(v) for k, v in value.items()}
    return value
