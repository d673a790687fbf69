"""JWT builtins: ``io.jwt.decode``, ``io.jwt.decode_verify``, ``io.jwt.verify_*``, ``io.jwt.encode_sign*``.

Follows https://github.com/open-policy-agent/opa/blob/main/v1/topdown/tokens.go
with the ``cryptography`` library: keys are PEM certificates, PEM public keys
or JWK / JWK sets (see :mod:`._jwk`; signatures in :mod:`._jws`); the error texts are OPA's. The
``verify_*`` builtins check only the signature (the hash is the builtin's,
keys of the wrong type give ``false``); ``decode_verify`` also checks ``alg``,
``iss``, ``aud``, ``exp`` and ``nbf`` against its constraints (``time`` in
nanoseconds, the query's time by default) and follows nested ``cty: JWT``
tokens. ``encode_sign`` is deterministic except for ES* and PS* signatures.
OPA's optional inter-query token cache is not implemented.
"""

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from kubegate.evaluator.builtins._gocompat import GoError, b64url_decode_opa, bytes_to_str
from kubegate.evaluator.builtins._gojson import marshal, unmarshal, valid
from kubegate.evaluator.builtins._jwk import Jwk, parse_jwks
from kubegate.evaluator.builtins._jws import ALGORITHMS, keys_from_cert_or_jwk, sign, verify_signature
from kubegate.evaluator.builtins.registry import (
    BuiltinContext,
    BuiltinError,
    arg_object,
    arg_string,
    implements,
)
from kubegate.evaluator.values import from_key

__all__ = [
    "ALGORITHMS",
    "jwt_decode",
    "jwt_decode_verify",
    "jwt_encode_sign",
    "jwt_encode_sign_raw",
    "keys_from_cert_or_jwk",
    "sign",
    "verify_signature",
]

_MAX_NESTING = 32


class _Token:
    """The three base64url sections of a compact JWS."""

    def __init__(self, value: Any) -> None:
        text = arg_string(value, 1)
        if "." not in text:
            raise BuiltinError("encoded JWT had no period separators")
        parts = text.split(".")
        if len(parts) != 3:
            raise BuiltinError(f"encoded JWT must have 3 sections, found {len(parts)}")
        self.header, self.payload, self.signature = parts

    def decoded_header(self) -> dict[str, Any]:
        try:
            raw = b64url_decode_opa(self.header)
        except GoError as exc:
            raise BuiltinError(f"JWT header had invalid encoding: {exc.message}") from None
        try:
            header = _json_object(bytes_to_str(raw))
        except BuiltinError as exc:
            raise BuiltinError(f"bad JWT header: {exc.message}") from None
        if "enc" in header:
            raise BuiltinError("JWT is a JWE object, which is not supported")
        return header

    def decoded_payload(self) -> bytes:
        try:
            return b64url_decode_opa(self.payload)
        except GoError as exc:
            raise BuiltinError(f"JWT payload had invalid encoding: {exc.message}") from None

    def decoded_signature(self) -> bytes:
        try:
            return b64url_decode_opa(self.signature)
        except GoError as exc:
            raise BuiltinError(exc.message) from None

    @property
    def signed(self) -> bytes:
        return (self.header + "." + self.payload).encode("utf-8", "surrogatepass")


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = unmarshal(text)
    except GoError as exc:
        raise BuiltinError(f"invalid JSON: {exc.message}") from None
    if type(value) is not dict:
        raise BuiltinError("decoded JSON type was not an Object")
    return value


@implements("io.jwt.decode")
def jwt_decode(jwt: Any) -> Any:
    """``io.jwt.decode(jwt)``: ``[header, payload, signature_hex]`` without verification;
    a ``cty: JWT`` payload is decoded in turn."""
    for _ in range(_MAX_NESTING):
        token = _Token(jwt)
        header = token.decoded_header()
        payload = token.decoded_payload()
        if header.get("cty") == "JWT":
            jwt = bytes_to_str(payload).strip("\"'")
            continue
        claims = _json_object(bytes_to_str(payload))
        try:
            signature = b64url_decode_opa(token.signature)
        except GoError as exc:
            raise BuiltinError(f"JWT signature had invalid encoding: {exc.message}") from None
        return (header, claims, signature.hex())
    raise BuiltinError("JWT nesting is too deep")


# ------------------------------------------------------------------ keys


def _header_fields(header: dict[str, Any]) -> dict[str, Any]:
    """OPA's ``parseTokenHeader``: ``alg``, ``kid``, ``typ``, ``cty`` strings and ``crit`` list.

    Raises:
        BuiltinError: a field of the wrong type.
    """
    out: dict[str, Any] = {"alg": "", "kid": "", "typ": "", "cty": "", "crit": None, "unknown": []}
    for key, value in header.items():
        name = from_key(key)
        if name in ("alg", "kid", "typ", "cty"):
            if type(value) is not str:
                raise BuiltinError(f"{name}: must be a string")
            out[name] = value
        elif name == "crit":
            if type(value) not in (list, tuple):
                raise BuiltinError("crit: must be a list")
            crit = {v for v in value if type(v) is str}
            if not crit:
                raise BuiltinError("crit: must be a nonempty list")
            out["crit"] = crit
        else:
            out["unknown"].append(name)
    return out


def _verify_builtin(jwt: Any, key_text: Any, alg: str) -> bool:
    token = _Token(jwt)
    text = arg_string(key_text, 2)
    keys = keys_from_cert_or_jwk(text)
    signature = token.decoded_signature()
    header = _header_fields(token.decoded_header())
    message = token.signed
    if header["kid"]:
        for key in keys:
            if key.kid == header["kid"]:
                return not key.private and verify_signature(key.key, alg, message, signature, jws=False)
    for key in keys:
        if key.alg and key.alg != header["alg"]:
            continue
        if not key.private and verify_signature(key.key, alg, message, signature, jws=False):
            return True
    return False


def _register_verifier(name: str, alg: str) -> None:
    def verify(jwt: Any, certificate: Any) -> bool:
        return _verify_builtin(jwt, certificate, alg)

    verify.__name__ = name.replace(".", "_")
    verify.__doc__ = f"``{name}(jwt, certificate)``: whether the {alg} signature verifies with the PEM or JWK key(s)."
    implements(name)(verify)


for _alg in ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"):
    _register_verifier(f"io.jwt.verify_{_alg.lower()}", _alg)
_register_verifier("io.jwt.verify_eddsa", "EdDSA")


def _verify_hs(jwt: Any, secret: Any, bits: str) -> bool:
    arg_string(jwt, 1)
    key = arg_string(secret, 2).encode("utf-8", "surrogatepass")
    token = _Token(jwt)
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}[bits]
    mac = hmac.new(key, token.signed, digest).digest()
    return hmac.compare_digest(token.decoded_signature(), mac)


def _register_hs(bits: str) -> None:
    name = f"io.jwt.verify_hs{bits}"

    def verify(jwt: Any, secret: Any) -> bool:
        return _verify_hs(jwt, secret, bits)

    verify.__name__ = name.replace(".", "_")
    verify.__doc__ = f"``{name}(jwt, secret)``: whether the HS{bits} signature verifies with the secret."
    implements(name)(verify)


for _bits in ("256", "384", "512"):
    _register_hs(_bits)


# ------------------------------------------------------------------ decode_verify


def _constraints(obj: dict[Any, Any], now_ns: Callable[[], int]) -> dict[str, Any]:
    out: dict[str, Any] = {"secret": "", "alg": "", "iss": "", "aud": "", "keys": None, "time": None}
    for key, value in obj.items():
        name = from_key(key)
        if name == "cert":
            if type(value) is not str:
                raise BuiltinError("cert constraint: must be a string")
            out["keys"] = keys_from_cert_or_jwk(value)
        elif name in ("secret", "alg", "iss", "aud"):
            if type(value) is not str:
                raise BuiltinError(f"{name} constraint: must be a string")
            out[name] = value
        elif name == "time":
            out["time"] = _time_value(value)
        else:
            raise BuiltinError(f"unknown token validation constraint: {name}")
    if out["time"] is None:
        out["time"] = _time_value(now_ns())
    count = (out["keys"] is not None) + (out["secret"] != "")
    if count > 1:
        raise BuiltinError("duplicate key constraints")
    if count < 1:
        raise BuiltinError("no key constraint")
    return out


def _time_value(value: Any) -> float:
    if type(value) not in (int, float):
        raise BuiltinError("token time constraint: must be a number")
    try:
        result = float(value)
    except OverflowError:
        raise BuiltinError("token time constraint: unvalid float64") from None
    if result < 0:
        raise BuiltinError("token time constraint: must not be negative")
    return result


def _signature_ok(constraints: dict[str, Any], header: dict[str, Any], message: bytes, signature: bytes) -> bool:
    alg = header["alg"]
    keys: list[Jwk] | None = constraints["keys"]
    if keys is not None:
        if header["kid"]:
            for key in keys:
                if key.kid == header["kid"]:
                    return verify_signature(key.key, alg, message, signature)
        for key in keys:
            if key.alg and key.alg != alg:
                continue
            if verify_signature(key.key, alg, message, signature):
                return True
        return False
    secret = constraints["secret"].encode("utf-8", "surrogatepass")
    return verify_signature(secret, alg, message, signature)


def _audience_ok(aud: Any, wanted: str) -> bool:
    if type(aud) is str:
        return aud == wanted
    if type(aud) in (list, tuple):
        return any(type(a) is str and a == wanted for a in aud)
    return False


_UNVERIFIED: tuple[bool, dict[str, Any], dict[str, Any]] = (False, {}, {})


@implements("io.jwt.decode_verify", context=True)
def jwt_decode_verify(ctx: BuiltinContext, jwt: Any, constraints: Any) -> Any:
    """``io.jwt.decode_verify(jwt, constraints)``: ``[valid, header, payload]``; ``[false, {}, {}]``
    when the signature or a constraint fails."""
    options = _constraints(arg_object(constraints, 2), ctx.now_ns)
    for _ in range(_MAX_NESTING):
        token = _Token(jwt)
        header = token.decoded_header()
        fields = _header_fields(header)
        if not fields["alg"] or any(u in (fields["crit"] or ()) for u in fields["unknown"]):
            return _UNVERIFIED
        if options["alg"] and options["alg"] != fields["alg"]:
            return _UNVERIFIED
        signature = token.decoded_signature()
        if not _signature_ok(options, fields, token.signed, signature):
            return _UNVERIFIED
        payload = token.decoded_payload()
        if fields["cty"].upper() == "JWT":
            jwt = bytes_to_str(payload)
            continue
        break
    else:
        raise BuiltinError("JWT nesting is too deep")
    claims = _json_object(bytes_to_str(payload))
    seconds = options["time"] / 1_000_000_000
    if options["iss"] and claims.get("iss") != options["iss"]:
        return _UNVERIFIED
    if "aud" in claims:
        if not _audience_ok(claims["aud"], options["aud"]):
            return _UNVERIFIED
    elif options["aud"]:
        return _UNVERIFIED
    if "exp" in claims:
        exp = claims["exp"]
        if type(exp) not in (int, float):
            raise BuiltinError("exp value must be a number")
        if seconds >= exp:
            return _UNVERIFIED
    if "nbf" in claims:
        nbf = claims["nbf"]
        if type(nbf) not in (int, float):
            raise BuiltinError("nbf value must be a number")
        if seconds < nbf:
            return _UNVERIFIED
    return (True, header, claims)


# ------------------------------------------------------------------ encode_sign


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _header_alg(headers: bytes) -> tuple[str, str | None]:
    """``alg`` and ``typ`` (``None`` when absent or not a string) of the protected header.

    Raises:
        BuiltinError: ``missing or invalid 'alg' header: ...``.
    """
    text = bytes_to_str(headers)
    if not text.strip():
        raise BuiltinError("missing or invalid 'alg' header: cannot parse JSON: cannot parse empty string")
    try:
        parsed = unmarshal(text)
    except GoError as exc:
        raise BuiltinError(f"missing or invalid 'alg' header: cannot parse JSON: {exc.message}") from None
    if type(parsed) is not dict or type(parsed.get("alg")) is not str:
        raise BuiltinError("missing or invalid 'alg' header: unsupported signature algorithm (no \"alg\" string)")
    typ = parsed.get("typ")
    return parsed["alg"], typ if type(typ) is str else None


def _encode_sign(headers: bytes, payload: bytes, jwk_text: str) -> str:
    try:
        keys = parse_jwks(jwk_text)
    except GoError as exc:
        raise BuiltinError(f"failed to parse JWK: {exc.message}") from None
    if not keys:
        raise BuiltinError("no keys found in JWK set")
    alg, typ = _header_alg(headers)
    if alg not in ALGORITHMS:
        raise BuiltinError(f"unknown JWS algorithm: {alg}")
    if (typ is None or typ == "JWT") and not valid(bytes_to_str(payload)):
        raise BuiltinError("type is JWT but payload is not JSON")
    message = (_b64(headers) + "." + _b64(payload)).encode("ascii")
    try:
        signature = sign(keys[0], alg, message)
    except (ValueError, TypeError) as exc:
        raise BuiltinError(f"failed to sign payload: {exc}") from None
    return message.decode("ascii") + "." + _b64(signature)


def _json_bytes(value: Any, what: str) -> bytes:
    try:
        return marshal(value).encode("utf-8", "surrogatepass")
    except (GoError, RecursionError) as exc:
        raise BuiltinError(f"failed to marshal JWT {what}: {exc}") from None


@implements("io.jwt.encode_sign")
def jwt_encode_sign(headers: Any, payload: Any, key: Any) -> str:
    """``io.jwt.encode_sign(headers, payload, key)``: a compact JWS of the JSON of ``headers`` and
    ``payload``, signed with the JWK object ``key``."""
    header_bytes = _json_bytes(headers, "headers")
    payload_bytes = _json_bytes(payload, "payload")
    key_text = _json_bytes(key, "signature").decode("utf-8")
    return _encode_sign(header_bytes, payload_bytes, key_text)


@implements("io.jwt.encode_sign_raw")
def jwt_encode_sign_raw(headers: Any, payload: Any, key: Any) -> str:
    """``io.jwt.encode_sign_raw(headers, payload, key)``: as ``encode_sign`` with the header,
    payload and JWK given as text."""
    key_text = arg_string(key, 3)
    header_text = arg_string(headers, 1)
    payload_text = arg_string(payload, 2)
    enc = "utf-8"
    return _encode_sign(header_text.encode(enc, "surrogatepass"), payload_text.encode(enc, "surrogatepass"), key_text)
