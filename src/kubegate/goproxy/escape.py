"""Module path and version escaping, and path checks (``golang.org/x/mod/module``).

Proxies and module caches are case-insensitive in places, so the GOPROXY
protocol escapes every upper-case letter as ``!`` and its lower-case form
(``github.com/Azure`` → ``github.com/!azure``;
https://go.dev/ref/mod#goproxy-protocol). Clients may percent-encode the
``!`` (``%21``); the ASGI server decodes that before routing, and
:func:`unescape` also accepts it for raw paths.
"""

from __future__ import annotations

from kubegate.goproxy.errors import NotFound

__all__ = ["check_module_path", "escape", "unescape"]

_ELEMENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")


def escape(text: str) -> str:
    """``!x`` for every upper-case ``X`` (module.EscapePath / EscapeVersion).

    Raises:
        NotFound: ``invalid_module_path`` for a ``!`` or a non-ASCII character.
    """
    out: list[str] = []
    for ch in text:
        if ch == "!" or not ch.isascii():
            raise NotFound(f"{text!r} cannot be escaped: it holds {ch!r}", code="invalid_module_path")
        out.append("!" + ch.lower() if "A" <= ch <= "Z" else ch)
    return "".join(out)


def unescape(text: str) -> str:
    """The inverse of :func:`escape` (``%21`` read as ``!``).

    Raises:
        NotFound: ``invalid_module_path`` for an upper-case letter, a ``!`` not
            followed by a lower-case letter, or a non-ASCII character.
    """
    text = text.replace("%21", "!")
    out: list[str] = []
    bang = False
    for ch in text:
        if not ch.isascii():
            raise NotFound(f"{text!r} is not a valid escaped path", code="invalid_module_path")
        if bang:
            if not "a" <= ch <= "z":
                raise NotFound(f"{text!r}: '!' must be followed by a lower-case letter", code="invalid_module_path")
            out.append(ch.upper())
            bang = False
        elif ch == "!":
            bang = True
        elif "A" <= ch <= "Z":
            raise NotFound(f"{text!r}: upper-case letters must be escaped as '!'", code="invalid_module_path")
        else:
            out.append(ch)
    if bang:
        raise NotFound(f"{text!r} ends with '!'", code="invalid_module_path")
    return "".join(out)


def check_module_path(path: str) -> None:
    """Checks ``path`` as ``module.CheckPath`` does for the parts a proxy relies on:
    ``/``-separated non-empty elements of ``[A-Za-z0-9-._~]`` that do not start
    or end with ``.``, and a first element with a dot that does not start with ``-``.

    Raises:
        NotFound: ``invalid_module_path``.
    """
    if not path or len(path) > 1024:
        raise NotFound("empty or over-long module path", code="invalid_module_path")
    elements = path.split("/")
    for element in elements:
        if not element or element.startswith(".") or element.endswith(".") or set(element) - _ELEMENT_CHARS:
            raise NotFound(f"malformed module path {path!r}: bad element {element!r}", code="invalid_module_path")
    first = elements[0]
    if "." not in first or first.startswith("-"):
        raise NotFound(f"malformed module path {path!r}: missing dot in first element", code="invalid_module_path")
