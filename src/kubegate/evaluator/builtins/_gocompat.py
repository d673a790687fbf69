"""Go standard-library behaviour the encoding, crypto and token builtins rely on.

OPA's builtins are thin wrappers around Go's ``encoding/base64``,
``encoding/hex``, ``encoding/pem``, ``encoding/json`` and ``strconv``; their
results and error texts are those packages'. This module reproduces the parts
that matter, on bytes:

* base64 decoding as ``base64.StdEncoding``/``URLEncoding`` (``\\r`` and
  ``\\n`` ignored, ``illegal base64 data at input byte N``),
* ``hex.DecodeString`` and its ``encoding/hex: ...`` errors,
* ``pem.Decode`` (leading junk skipped, headers, rest after the END line),
* ``strconv.Quote`` and float formatting (from :mod:`._gofloat`: ``'e'``, ``'f'``, ``'g'``, the
  float64 rule of ``encoding/json``).

References: https://github.com/golang/go/blob/master/src/encoding/base64/base64.go,
https://github.com/golang/go/blob/master/src/encoding/pem/pem.go,
https://github.com/golang/go/blob/master/src/strconv/ftoa.go.
"""

from __future__ import annotations

import binascii
import re
from dataclasses import dataclass, field

from kubegate.evaluator.builtins._gofloat import format_float_e, format_float_g, format_float_json, go_quote

__all__ = [
    "GoError",
    "PemBlock",
    "b64_decode",
    "b64url_decode_opa",
    "bytes_to_str",
    "format_float_e",
    "format_float_g",
    "format_float_json",
    "go_quote",
    "hex_decode",
    "pem_decode",
    "pem_encode",
]


class GoError(Exception):
    """An error with the text Go's library would give."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def bytes_to_str(data: bytes) -> str:
    """A Go string's bytes as Rego text (invalid UTF-8 becomes U+FFFD, as when OPA prints it)."""
    return data.decode("utf-8", "replace")


# ------------------------------------------------------------------ base64

_STD = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _decode_map(alphabet: bytes) -> list[int]:
    table = [0xFF] * 256
    for i, c in enumerate(alphabet):
        table[c] = i
    return table


_STD_MAP = _decode_map(_STD)
_URL_MAP = _decode_map(_URL)
_EQ = ord("=")
_NL = (ord("\n"), ord("\r"))


def _corrupt(offset: int) -> GoError:
    return GoError(f"illegal base64 data at input byte {offset}")


def _b64_fast(src: bytes, url: bool, padded: bool) -> bytes | None:
    """The decoding by ``binascii`` when the input is well-formed (``None`` otherwise: the
    byte-by-byte path then finds Go's error offset)."""
    data = src.replace(b"\n", b"").replace(b"\r", b"") if b"\n" in src or b"\r" in src else src
    if url:
        if b"+" in data or b"/" in data:
            return None
        data = data.translate(_URL_TO_STD)
    if not padded:
        if b"=" in data or len(data) % 4 == 1:
            return None
        data += b"=" * (-len(data) % 4)
    try:
        return binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError):
        return None


_URL_TO_STD = bytes.maketrans(b"-_", b"+/")


def b64_decode(src: bytes, *, url: bool = False, padded: bool = True) -> bytes:
    """``base64.StdEncoding.DecodeString`` (``url``: ``URLEncoding``; ``padded=False``: the ``Raw`` variants).

    Raises:
        GoError: ``illegal base64 data at input byte N``.
    """
    fast = _b64_fast(src, url, padded)
    if fast is not None:
        return fast
    table = _URL_MAP if url else _STD_MAP
    out = bytearray()
    n = len(src)
    si = 0
    while si < n:
        dbuf = [0, 0, 0, 0]
        dlen = 4
        j = 0
        error: GoError | None = None
        while j < 4:
            if si == n:
                if j == 0:
                    return bytes(out)
                if j == 1 or padded:
                    raise _corrupt(si - j)
                dlen = j
                break
            c = src[si]
            si += 1
            value = table[c]
            if value != 0xFF:
                dbuf[j] = value
                j += 1
                continue
            if c in _NL:
                continue
            if c != _EQ or not padded:
                raise _corrupt(si - 1)
            # padding
            if j in (0, 1):
                raise _corrupt(si - 1)
            if j == 2:
                while si < n and src[si] in _NL:
                    si += 1
                if si == n:
                    raise _corrupt(n)
                if src[si] != _EQ:
                    raise _corrupt(si - 1)
                si += 1
            while si < n and src[si] in _NL:
                si += 1
            if si < n:
                error = _corrupt(si)
            dlen = j
            break
        val = (dbuf[0] << 18) | (dbuf[1] << 12) | (dbuf[2] << 6) | dbuf[3]
        chunk = bytes(((val >> 16) & 0xFF, (val >> 8) & 0xFF, val & 0xFF))
        out += chunk[: dlen - 1]
        if error is not None:
            raise error
    return bytes(out)


def b64url_decode_opa(text: str) -> bytes:
    """OPA's ``base64url.decode``: padding added when missing (RFC 7515 appendix C), then ``URLEncoding``.

    Raises:
        GoError: ``illegal base64url string: ...`` or Go's base64 error.
    """
    if not text.endswith("="):
        rem = len(text.encode("utf-8", "surrogatepass")) % 4
        if rem == 2:
            text += "=="
        elif rem == 3:
            text += "="
        elif rem == 1:
            raise GoError(f"illegal base64url string: {text}")
    return b64_decode(text.encode("utf-8", "surrogatepass"), url=True)


# ------------------------------------------------------------------ hex


def _go_rune_quote(byte: int) -> str:
    """``fmt.Sprintf("%#U", rune(b))`` for a byte value."""
    ch = chr(byte)
    if ch.isprintable() and byte not in (0xAD,):
        return f"U+{byte:04X} '{ch}'"
    return f"U+{byte:04X}"


_HEX_TEXT = re.compile("[0-9a-fA-F]*")


def hex_decode(text: str) -> bytes:
    """``hex.DecodeString``.

    Raises:
        GoError: ``encoding/hex: invalid byte: U+0067 'g'`` or ``encoding/hex: odd length hex string``.
    """
    if len(text) % 2 == 0 and _HEX_TEXT.fullmatch(text):
        return bytes.fromhex(text)
    src = text.encode("utf-8", "surrogatepass")
    hexdigits = b"0123456789abcdefABCDEF"
    for i in range(0, len(src) - 1, 2):
        for c in (src[i], src[i + 1]):
            if c not in hexdigits:
                raise GoError(f"encoding/hex: invalid byte: {_go_rune_quote(c)}")
    if len(src) % 2 == 1:
        if src[-1] not in hexdigits:
            raise GoError(f"encoding/hex: invalid byte: {_go_rune_quote(src[-1])}")
        raise GoError("encoding/hex: odd length hex string")
    return bytes.fromhex(src.decode("ascii"))


# ------------------------------------------------------------------ pem


@dataclass
class PemBlock:
    """A decoded PEM block (``pem.Block``)."""

    type: str
    bytes: bytes
    headers: dict[str, str] = field(default_factory=dict)


_PEM_START = b"\n-----BEGIN "
_PEM_END = b"\n-----END "
_PEM_EOL = b"-----"


def _get_line(data: bytes) -> tuple[bytes, bytes]:
    i = data.find(b"\n")
    if i < 0:
        i = j = len(data)
    else:
        j = i + 1
        if i > 0 and data[i - 1] == 0x0D:
            i -= 1
    return data[:i].rstrip(b" \t"), data[j:]


def pem_decode(data: bytes) -> tuple[PemBlock | None, bytes]:
    """``pem.Decode``: the first PEM block in ``data`` and the rest after it, or ``(None, data)``."""
    rest = data
    while True:
        if rest.startswith(_PEM_START[1:]):
            rest = rest[len(_PEM_START) - 1 :]
        else:
            at = rest.find(_PEM_START)
            if at < 0:
                return None, data
            rest = rest[at + len(_PEM_START) :]
        type_line, rest = _get_line(rest)
        if not type_line.endswith(_PEM_EOL):
            continue
        type_line = type_line[: -len(_PEM_EOL)]
        headers: dict[str, str] = {}
        truncated = False
        while True:
            if not rest:
                truncated = True
                break
            line, nxt = _get_line(rest)
            key, sep, val = line.partition(b":")
            if not sep:
                break
            headers[key.strip().decode("utf-8", "replace")] = val.strip().decode("utf-8", "replace")
            rest = nxt
        if truncated:
            return None, data
        if not headers and rest.startswith(_PEM_END[1:]):
            end_index, trailer_index = 0, len(_PEM_END) - 1
        else:
            end_index = rest.find(_PEM_END)
            trailer_index = end_index + len(_PEM_END)
        if end_index < 0:
            continue
        trailer = rest[trailer_index:]
        trailer_len = len(type_line) + len(_PEM_EOL)
        if len(trailer) < trailer_len:
            continue
        rest_of_end_line = trailer[trailer_len:]
        trailer = trailer[:trailer_len]
        if not trailer.startswith(type_line) or not trailer.endswith(_PEM_EOL):
            continue
        if _get_line(rest_of_end_line)[0]:
            continue
        body = rest[:end_index].replace(b" ", b"").replace(b"\t", b"")
        try:
            decoded = b64_decode(body)
        except GoError:
            continue
        _, rest = _get_line(rest[end_index + len(_PEM_END) - 1 :])
        return PemBlock(type_line.decode("utf-8", "replace"), decoded, headers), rest


def pem_encode(block_type: str, data: bytes) -> bytes:
    """``pem.Encode`` of a block without headers."""
    import base64

    body = base64.b64encode(data)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return (
        b"-----BEGIN "
        + block_type.encode()
        + b"-----\n"
        + b"".join(line + b"\n" for line in lines)
        + b"-----END "
        + block_type.encode()
        + b"-----\n"
    )
