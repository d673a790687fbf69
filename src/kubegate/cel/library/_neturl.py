"""Go's ``net/url`` parser (Go 1.25 ``src/net/url/url.go``), under the URL
and format libraries.

* :func:`parse`: ``url.Parse``: any URI reference, the fragment cut at the
  first ``#``; :func:`parse_request_uri`: ``url.ParseRequestURI``: an absolute
  URI or an absolute path (a fragment is read as part of the path or query);
* :class:`URL`: the fields of ``url.URL`` the libraries read, with
  ``EscapedPath``, ``Query``, ``String`` and ``splitHostPort``.

It works over UTF-8 bytes, as Go's strings are (:func:`as_text` turns them
back into text, an invalid byte kept as a surrogate escape); percent-decoding
and encoding use :mod:`urllib.parse` with ``shouldEscape``'s characters of
each encoding mode. A bracketed host is checked to be an IPv6 address
(``netip.ParseAddr``: :mod:`kubegate.cel.library._netip`) as Go has done
since 1.24.8/1.25.2. Errors are :class:`URLError`, with Go's messages
(``parse "../x": invalid URI for request``).
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from urllib.parse import quote_from_bytes, unquote_to_bytes

from kubegate.cel.library._netip import AddrError, go_quote, parse_addr

__all__ = ["URL", "URLError", "as_text", "parse", "parse_request_uri"]

_PATH, _HOST, _ZONE, _USER, _QUERY, _FRAGMENT = range(6)
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HEXDIGITS = frozenset(b"0123456789abcdefABCDEF")
_SCHEME_LATER = frozenset(b"0123456789+-.")
_USERINFO = _ALNUM | frozenset(b"-._:~!$&'()*+,;=%@")
_ENCODED_OK = frozenset(b"!$&'()*+,;=:@[]%")


class URLError(ValueError):
    """A URL ``net/url`` rejects; ``str()`` is Go's message."""


def as_text(data: bytes) -> str:
    """``data`` (UTF-8, as a Go string) as text, an invalid byte kept as a surrogate escape."""
    return data.decode("utf-8", "surrogateescape")


def _should_escape(c: int, mode: int) -> bool:
    if c in _ALNUM or c in b"-_.~":
        return False
    if mode in (_HOST, _ZONE) and c in b"!$&'()*+,;=:[]<>\"":
        return False
    if c in b"$&+,/:;=?@":
        if mode == _PATH:
            return c == ord("?")
        if mode == _USER:
            return c in b"@/?:"
        if mode in (_QUERY, _FRAGMENT):
            return mode == _QUERY
    return not (mode == _FRAGMENT and c in b"!()*")


@functools.cache
def _safe(mode: int) -> bytes:
    return bytes(c for c in range(128) if not _should_escape(c, mode))


def _escape(data: bytes, mode: int) -> bytes:
    return quote_from_bytes(data, safe=_safe(mode)).encode("ascii")


def _unescape(data: bytes, mode: int) -> bytes:
    """``net/url``'s ``unescape``: checks every ``%XX`` (and, in a host, what may be escaped)."""
    i = 0
    while i < len(data):
        c = data[i]
        if c == ord("%"):
            escape = data[i : i + 3]
            if len(escape) < 3 or escape[1] not in _HEXDIGITS or escape[2] not in _HEXDIGITS:
                raise URLError(f"invalid URL escape {go_quote(as_text(escape))}")
            value = int(escape[1:], 16)
            if mode == _HOST and value < 0x80 and escape != b"%25":
                raise URLError(f"invalid URL escape {go_quote(as_text(escape))}")
            if mode == _ZONE and escape != b"%25" and value != 0x20 and _should_escape(value, _HOST):
                raise URLError(f"invalid URL escape {go_quote(as_text(escape))}")
            i += 3
            continue
        if mode in (_HOST, _ZONE) and c < 0x80 and _should_escape(c, mode):
            raise URLError(f"invalid character {go_quote(chr(c))} in host name")
        i += 1
    return unquote_to_bytes(data.replace(b"+", b" ") if mode == _QUERY else data)


@dataclass(frozen=True)
class URL:
    """The fields of Go's ``url.URL`` that the library reads (encoded forms as bytes)."""

    scheme: bytes = b""
    opaque: bytes = b""
    user: tuple[bytes, bytes | None] | None = None
    host: bytes = b""
    path: bytes = b""
    raw_path: bytes = b""
    omit_host: bool = False
    force_query: bool = False
    raw_query: bytes = b""
    fragment: bytes = b""
    raw_fragment: bytes = b""

    def escaped_path(self) -> bytes:
        """``url.URL.EscapedPath``."""
        if _valid_raw(self.path, self.raw_path, _PATH):
            return self.raw_path
        return b"*" if self.path == b"*" else _escape(self.path, _PATH)

    def split_host(self) -> tuple[bytes, bytes]:
        """``splitHostPort``: the hostname (brackets removed) and the port."""
        host, colon, port = self.host.rpartition(b":")
        if not colon or (port and not port.isdigit()):
            host, port = self.host, b""
        if host.startswith(b"[") and host.endswith(b"]"):
            host = host[1:-1]
        return host, port

    def query(self) -> dict[str, list[str]]:
        """``url.URL.Query``: the values of each key, malformed pairs dropped."""
        values: dict[str, list[str]] = {}
        for pair in self.raw_query.split(b"&"):
            if not pair or b";" in pair:
                continue
            key, _, value = pair.partition(b"=")
            try:
                decoded = _unescape(key, _QUERY), _unescape(value, _QUERY)
            except URLError:
                continue
            values.setdefault(decoded[0].decode(errors="replace"), []).append(decoded[1].decode(errors="replace"))
        return values

    def __str__(self) -> str:
        """``url.URL.String``."""
        out = self.scheme + b":" if self.scheme else b""
        if self.opaque:
            out += self.opaque
        else:
            if (self.scheme or self.host or self.user) and not (self.omit_host and not self.host and not self.user):
                out += b"//" if self.host or self.path or self.user else b""
                if self.user:
                    password = b"" if self.user[1] is None else b":" + _escape(self.user[1], _USER)
                    out += _escape(self.user[0], _USER) + password + b"@"
                out += _escape(self.host, _HOST)
            path = self.escaped_path()
            if path and not path.startswith(b"/") and self.host:
                out += b"/"
            if not out and b":" in path.partition(b"/")[0]:
                out += b"./"
            out += path
        if self.force_query or self.raw_query:
            out += b"?" + self.raw_query
        if self.fragment:
            valid = _valid_raw(self.fragment, self.raw_fragment, _FRAGMENT)
            out += b"#" + (self.raw_fragment if valid else _escape(self.fragment, _FRAGMENT))
        return as_text(out)


def _valid_raw(decoded: bytes, raw: bytes, mode: int) -> bool:
    """Whether the raw hint is a valid encoding of ``decoded`` (``validEncoded``
    and decoding back to it), so ``EscapedPath``/``EscapedFragment`` keep it."""
    if not raw or any(c not in _ENCODED_OK and _should_escape(c, mode) for c in raw):
        return False
    try:
        return _unescape(raw, mode) == decoded
    except URLError:
        return False


def _encoded(data: bytes, mode: int) -> tuple[bytes, bytes]:
    """``setPath``/``setFragment``: the decoded form and the raw hint (``b""``
    when the default encoding gives it back)."""
    decoded = _unescape(data, mode)
    return decoded, b"" if _escape(decoded, mode) == data else data


def _valid_port(colon_port: bytes) -> bool:
    return not colon_port or (colon_port[:1] == b":" and (colon_port[1:].isdigit() or colon_port == b":"))


def _parse_host(host: bytes) -> bytes:
    if host.startswith(b"["):
        close = host.rfind(b"]")
        if close < 0:
            raise URLError("missing ']' in host")
        colon_port = host[close + 1 :]
        if not _valid_port(colon_port):
            raise URLError(f"invalid port {go_quote(as_text(colon_port))} after host")
        name = host[1:close]
        zone = name.find(b"%25")
        # From "%25" on is the zone (RFC 6874), which may escape more than a host.
        name = _unescape(name[:zone], _HOST) + _unescape(name[zone:], _ZONE) if zone >= 0 else _unescape(name, _HOST)
        try:
            addr = parse_addr(as_text(name))
        except AddrError as exc:
            raise URLError(f"invalid host: {exc}") from None
        if addr.ip.version == 4:
            raise URLError("invalid IP-literal")
        return b"[" + name + b"]" + colon_port
    colon = host.rfind(b":")
    if colon >= 0 and not _valid_port(host[colon:]):
        raise URLError(f"invalid port {go_quote(as_text(host[colon:]))} after host")
    return _unescape(host, _HOST)


def _parse_authority(authority: bytes) -> tuple[tuple[bytes, bytes | None] | None, bytes]:
    at = authority.rfind(b"@")
    host = _parse_host(authority[at + 1 :])
    if at < 0:
        return None, host
    userinfo = authority[:at]
    if any(c not in _USERINFO for c in userinfo):
        raise URLError("net/url: invalid userinfo")
    name, colon, password = userinfo.partition(b":")
    return (_unescape(name, _USER), _unescape(password, _USER) if colon else None), host


def _scheme(raw: bytes) -> tuple[bytes, bytes]:
    for i, c in enumerate(raw):
        if c in _ALNUM and not 0x30 <= c <= 0x39:
            continue
        if c in _SCHEME_LATER:
            if i == 0:
                return b"", raw
            continue
        if c == ord(":"):
            if i == 0:
                raise URLError("missing protocol scheme")
            return raw[:i], raw[i + 1 :]
        return b"", raw
    return b"", raw


def _parse(raw: bytes, via_request: bool) -> URL:
    if any(c < 0x20 or c == 0x7F for c in raw):
        raise URLError("net/url: invalid control character in URL")
    if not raw and via_request:
        raise URLError("empty url")
    if raw == b"*":
        return URL(path=b"*")
    scheme, rest = _scheme(raw)
    scheme = scheme.lower()
    force_query, raw_query = False, b""
    if rest.endswith(b"?") and rest.count(b"?") == 1:
        force_query, rest = True, rest[:-1]
    else:
        rest, _, raw_query = rest.partition(b"?")
    if not rest.startswith(b"/"):
        if scheme:
            return URL(scheme=scheme, opaque=rest, force_query=force_query, raw_query=raw_query)
        if via_request:
            raise URLError("invalid URI for request")
        if b":" in rest.partition(b"/")[0]:
            raise URLError("first path segment in URL cannot contain colon")
    user, host, omit_host = None, b"", False
    if (scheme or (not via_request and not rest.startswith(b"///"))) and rest.startswith(b"//"):
        authority, slash, path = rest[2:].partition(b"/")
        user, host = _parse_authority(authority)
        rest = slash + path
    elif scheme and rest.startswith(b"/"):
        omit_host = True
    path, raw_path = _encoded(rest, _PATH)
    return URL(scheme, b"", user, host, path, raw_path, omit_host, force_query, raw_query)


def parse_request_uri(text: str) -> URL:
    """Go's ``url.ParseRequestURI``: an absolute URI or an absolute path (a
    fragment is read as part of the path or query).

    Raises:
        URLError: ``parse "<text>": <reason>``.
    """
    try:
        return _parse(text.encode(), True)
    except URLError as exc:
        raise URLError(f"parse {go_quote(text)}: {exc}") from None


def parse(text: str) -> URL:
    """Go's ``url.Parse``: any URI reference, the fragment cut at the first ``#``.

    Raises:
        URLError: ``parse "<text>": <reason>``.
    """
    before, hash_mark, fragment = text.encode().partition(b"#")
    try:
        url = _parse(before, False)
    except URLError as exc:
        raise URLError(f"parse {go_quote(as_text(before))}: {exc}") from None
    if not hash_mark or not fragment:
        return url
    try:
        decoded, raw = _encoded(fragment, _FRAGMENT)
    except URLError as exc:
        raise URLError(f"parse {go_quote(text)}: {exc}") from None
    return dataclasses.replace(url, fragment=decoded, raw_fragment=raw)
