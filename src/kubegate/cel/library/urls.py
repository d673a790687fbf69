"""Kubernetes' URL library (k8s.io/apiserver ``pkg/cel/library/urls.go``), with
Go's ``net/url`` semantics (Go 1.25). Since: every Kubernetes version
(``environment/base.go`` introduces it at 1.0; "All Kubernetes versions" on
https://kubernetes.io/docs/reference/using-api/cel/).

* ``url(string) -> URL``: the string must pass ``url.ParseRequestURI`` (an
  absolute URI, or an absolute path); the value is then ``url.Parse``'s, as
  urls.go does (so ``//host/p`` has host ``host``, and the fragment is cut);
* ``isURL(string) -> bool``: whether ``url.ParseRequestURI`` accepts it;
* members ``getScheme()``, ``getHost()`` (IPv6 in brackets, with the port),
  ``getHostname()`` (no brackets, no port), ``getPort()``, ``getEscapedPath()``
  (``url.URL.EscapedPath``) and ``getQuery() -> map(string, list(string))``
  (``url.URL.Query``: ``&``-separated, ``+`` is a space, malformed pairs and
  pairs with ``;`` dropped); an absent part is ``""`` or ``{}``.

Errors carry Go's messages (``URL parse error during conversion from string:
parse "../x": invalid URI for request``), so the parser is a port of
``net/url``'s (:mod:`kubegate.cel.library._neturl`). A decoded host or query
that is not valid UTF-8 is returned with U+FFFD, where Go keeps the bytes.

The carrier holds ``url.URL.String()``, so ``==`` is Kubernetes' (equal
``String()`` forms); the members parse it again with ``url.Parse``. The carrier
type is ``kubernetes.URL``, Kubernetes' name (pkg/cel/url.go).
"""

from __future__ import annotations

import functools
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library._neturl import URL, URLError, as_text, parse, parse_request_uri
from kubegate.cel.overloads import Function, Library, Overload, checking_extension

__all__ = ["LIBRARY", "URL_TYPE", "extension"]

SINCE = (1, 0)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

URL_TYPE = "kubernetes.URL"
"""The carrier type of ``url()`` values."""


@functools.lru_cache(maxsize=1024)
def _parsed(canonical: str) -> URL:
    return parse(canonical)


def _url(message: Any) -> URL:
    return _parsed(carriers.canonical(message))


def string_to_url(text: str) -> Any:
    """``url(string)``."""
    try:
        parse_request_uri(text)
        url = parse(text)
    except URLError as exc:
        raise ValueError(f"URL parse error during conversion from string: {exc}") from None
    return carriers.carrier(URL_TYPE, str(url))


def is_url(text: str) -> bool:
    """``isURL(string)``: whether ``url.ParseRequestURI`` accepts ``text``."""
    try:
        parse_request_uri(text)
    except URLError:
        return False
    return True


def get_scheme(message: Any) -> str:
    """``<URL>.getScheme()``."""
    return as_text(_url(message).scheme)


def get_host(message: Any) -> str:
    """``<URL>.getHost()``: ``host[:port]``, an IPv6 address in brackets."""
    return _url(message).host.decode(errors="replace")


def get_hostname(message: Any) -> str:
    """``<URL>.getHostname()``: no port, no brackets."""
    return _url(message).split_host()[0].decode(errors="replace")


def get_port(message: Any) -> str:
    """``<URL>.getPort()``: ``""`` when absent."""
    return as_text(_url(message).split_host()[1])


def get_escaped_path(message: Any) -> str:
    """``<URL>.getEscapedPath()``."""
    return as_text(_url(message).escaped_path())


def get_query(message: Any) -> dict[str, list[str]]:
    """``<URL>.getQuery()``: each key's values, in order."""
    return _url(message).query()


def _member(name: str, overload: str, result: Any, impl: Any) -> Function:
    return Function(name, (Overload(overload, result, (URL_TYPE,), impl, member=True),))


_S = cel.Type.STRING

LIBRARY = Library(
    "k8s.urls",
    (
        Function("url", (Overload("string_to_url", URL_TYPE, (_S,), string_to_url),)),
        Function("isURL", (Overload("is_url_string", cel.Type.BOOL, (_S,), is_url),)),
        _member("getScheme", "url_get_scheme", _S, get_scheme),
        _member("getHost", "url_get_host", _S, get_host),
        _member("getHostname", "url_get_hostname", _S, get_hostname),
        _member("getPort", "url_get_port", _S, get_port),
        _member("getEscapedPath", "url_get_escaped_path", _S, get_escaped_path),
        _member("getQuery", "url_get_query", cel.Type.Map(_S, cel.Type.List(_S)), get_query),
    ),
)
"""The library as data (overload ids as in urls.go)."""


def extension() -> Any:
    """The library's checking extension (evaluation goes through :data:`LIBRARY`)."""
    return checking_extension(LIBRARY)
