"""The little DER reading the X.509 builtins need: element boundaries and the raw
pieces of a TBSCertificate (subject, issuer, public key info, extensions), as Go's
``x509.Certificate`` exposes them (``RawSubject``, ``Extensions`` ...); see
https://github.com/golang/go/blob/master/src/crypto/x509/parser.go.
"""

from __future__ import annotations

from collections.abc import Iterator

from kubegate.evaluator.builtins._gocompat import GoError

__all__ = ["Tbs", "children", "decode_oid", "der_split", "key_usage_bits", "tlv"]


def tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """``(tag, content_start, end)`` of the DER element at ``pos``.

    Raises:
        GoError: malformed DER.
    """
    if pos + 2 > len(data):
        raise GoError("x509: malformed certificate")
    tag = data[pos]
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or start + count > len(data):
            raise GoError("x509: malformed certificate")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise GoError("x509: malformed certificate")
    return tag, start, end


def der_split(data: bytes) -> list[bytes]:
    """Consecutive DER elements (``x509.ParseCertificates`` input).

    Raises:
        GoError: ``x509: malformed certificate``.
    """
    out = []
    pos = 0
    while pos < len(data):
        tag, _, end = tlv(data, pos)
        if tag != 0x30:
            raise GoError("x509: malformed certificate")
        out.append(data[pos:end])
        pos = end
    return out


def children(data: bytes, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """``(tag, element_start, content_start, element_end)`` of each element in ``data[start:end]``."""
    pos = start
    while pos < end:
        tag, content, stop = tlv(data, pos)
        yield tag, pos, content, stop
        pos = stop


class Tbs:
    """The raw pieces of a TBSCertificate (or CertificationRequestInfo)."""

    def __init__(self, tbs: bytes, request: bool = False) -> None:
        _, start, end = tlv(tbs, 0)
        parts = list(children(tbs, start, end))
        self.extensions: list[tuple[str, bool, bytes]] = []
        if request:
            # version, subject, subjectPKInfo, [0] attributes
            self.subject = tbs[parts[1][1] : parts[1][3]]
            self.spki = tbs[parts[2][1] : parts[2][3]]
            self.issuer = b""
            return
        index = 1 if parts and parts[0][0] == 0xA0 else 0
        # serial, signature, issuer, validity, subject, spki
        self.issuer = tbs[parts[index + 2][1] : parts[index + 2][3]]
        self.subject = tbs[parts[index + 4][1] : parts[index + 4][3]]
        self.spki = tbs[parts[index + 5][1] : parts[index + 5][3]]
        for tag, _, content, _stop in parts[index + 6 :]:
            if tag != 0xA3:
                continue
            _, seq_start, seq_end = tlv(tbs, content)
            for _, _, ext_start, ext_stop in children(tbs, seq_start, seq_end):
                self.extensions.append(_extension(tbs, ext_start, ext_stop))


def decode_oid(body: bytes) -> str:
    parts: list[int] = []
    value = 0
    for byte in body:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    if not parts:
        return ""
    first = parts[0]
    head = [0, first] if first < 40 else [1, first - 40] if first < 80 else [2, first - 80]
    return ".".join(str(p) for p in head + parts[1:])


def _extension(data: bytes, start: int, end: int) -> tuple[str, bool, bytes]:
    items = list(children(data, start, end))
    oid = decode_oid(data[items[0][2] : items[0][3]])
    critical = False
    value = b""
    for tag, _, content, stop in items[1:]:
        if tag == 0x01:
            critical = data[content:stop] != b"\x00"
        elif tag == 0x04:
            value = data[content:stop]
    return oid, critical, value


def key_usage_bits(value: bytes) -> int:
    """Go's KeyUsage from the raw BIT STRING (bit i, most significant first, is ``1 << i``)."""
    try:
        _, start, end = tlv(value, 0)
    except GoError:
        return 0
    bits = value[start + 1 : end]
    usage = 0
    for i in range(9):
        byte = i // 8
        if byte < len(bits) and bits[byte] & (0x80 >> (i % 8)):
            usage |= 1 << i
    return usage
