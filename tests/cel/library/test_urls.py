"""The ``net/url`` port under the URL library: parses as Go's ``url.Parse`` and
``url.ParseRequestURI`` do (cases after go/src/net/url/url_test.go's
``urltests`` and ``parseRequestURLTests``), ``String()`` as Go writes it, and
re-parsing ``String()`` (what a carrier holds) gives the same parts."""

from __future__ import annotations

import pytest

from kubegate.cel.library._neturl import URL, URLError, parse, parse_request_uri

# (input, scheme, opaque, user, host, escaped path, raw query, String())
_PARSED = [
    ("http://www.google.com", "http", "", None, "www.google.com", "", "", None),
    ("http://www.google.com/", "http", "", None, "www.google.com", "/", "", None),
    ("http://www.google.com/file%20one%26two", "http", "", None, "www.google.com", "/file%20one%26two", "", None),
    ("ftp://webmaster@www.google.com/", "ftp", "", ("webmaster", None), "www.google.com", "/", "", None),
    ("ftp://john%20doe@www.google.com/", "ftp", "", ("john doe", None), "www.google.com", "/", "", None),
    ("http://www.google.com/?", "http", "", None, "www.google.com", "/", "", None),
    ("http://www.google.com/?foo=bar?", "http", "", None, "www.google.com", "/", "foo=bar?", None),
    ("http://www.google.com/?q=go+language", "http", "", None, "www.google.com", "/", "q=go+language", None),
    ("mailto:/webmaster@golang.org", "mailto", "", None, "", "/webmaster@golang.org", "", None),
    ("mailto:webmaster@golang.org", "mailto", "webmaster@golang.org", None, "", "", "", None),
    ("/foo?query=http://bad", "", "", None, "", "/foo", "query=http://bad", None),
    ("//foo", "", "", None, "foo", "", "", None),
    ("//user@foo/path?a=b", "", "", ("user", None), "foo", "/path", "a=b", None),
    ("///threeslashes", "", "", None, "", "///threeslashes", "", None),
    ("http://user:password@google.com", "http", "", ("user", "password"), "google.com", "", "", None),
    (
        "http://j@ne:password@google.com",
        "http",
        "",
        ("j@ne", "password"),
        "google.com",
        "",
        "",
        "http://j%40ne:password@google.com",
    ),
    (
        "http://jane:p@ssword@google.com",
        "http",
        "",
        ("jane", "p@ssword"),
        "google.com",
        "",
        "",
        "http://jane:p%40ssword@google.com",
    ),
    ("http://[fe80::1%25en0]/", "http", "", None, "[fe80::1%en0]", "/", "", None),
    (
        "http://[fe80::1%25%65%6e%301-._~]/",
        "http",
        "",
        None,
        "[fe80::1%en01-._~]",
        "/",
        "",
        "http://[fe80::1%25en01-._~]/",
    ),
    (
        "http://rest.rsc.io/foo%2fbar/baz%2Fquux?alt=media",
        "http",
        "",
        None,
        "rest.rsc.io",
        "/foo%2fbar/baz%2Fquux",
        "alt=media",
        None,
    ),
    ("mysql://a,b,c/bar", "mysql", "", None, "a,b,c", "/bar", "", None),
    ("scheme://!$&'()*+,;=hello!:1/path", "scheme", "", None, "!$&'()*+,;=hello!:1", "/path", "", None),
    ("http://host/!$&'()*+,;=:@[hello]", "http", "", None, "host", "/!$&'()*+,;=:@[hello]", "", None),
    ("http://example.com/oid/[order_id]", "http", "", None, "example.com", "/oid/[order_id]", "", None),
    (
        "http://[2b01:e34:ef40:7730:8e70:5aff:fefe:edac]:8080/foo",
        "http",
        "",
        None,
        "[2b01:e34:ef40:7730:8e70:5aff:fefe:edac]:8080",
        "/foo",
        "",
        None,
    ),
    (
        "http://hello.世界.com/foo",
        "http",
        "",
        None,
        "hello.世界.com",
        "/foo",
        "",
        "http://hello.%E4%B8%96%E7%95%8C.com/foo",
    ),
    (
        "http://hello.%e4%b8%96%e7%95%8c.com/foo",
        "http",
        "",
        None,
        "hello.世界.com",
        "/foo",
        "",
        "http://hello.%E4%B8%96%E7%95%8C.com/foo",
    ),
    ("http://example.com//foo", "http", "", None, "example.com", "//foo", "", None),
    ('myscheme://authority<"hi">/foo', "myscheme", "", None, 'authority<"hi">', "/foo", "", None),
    (
        "tcp://[2020::2020:20:2020:2020%25Windows%20Loves%20Spaces]:2020",
        "tcp",
        "",
        None,
        "[2020::2020:20:2020:2020%Windows Loves Spaces]:2020",
        "",
        "",
        None,
    ),
    (
        "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn",
        "magnet",
        "",
        None,
        "",
        "",
        "xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&dn",
        None,
    ),
    ("mailto:?subject=hi", "mailto", "", None, "", "", "subject=hi", None),
]


def _user(url: URL) -> tuple[str, str | None] | None:
    if url.user is None:
        return None
    name, password = url.user
    return name.decode(), None if password is None else password.decode()


@pytest.mark.parametrize(("text", "scheme", "opaque", "user", "host", "path", "query", "string"), _PARSED)
def test_parse(
    text: str,
    scheme: str,
    opaque: str,
    user: tuple[str, str | None] | None,
    host: str,
    path: str,
    query: str,
    string: str | None,
) -> None:
    url = parse(text)
    got = (url.scheme.decode(), url.opaque.decode(), _user(url), url.host.decode(), url.escaped_path().decode())
    assert got == (scheme, opaque, user, host, path)
    assert url.raw_query.decode() == query
    assert str(url) == (string or text)
    again = parse(str(url))  # a carrier holds String() and its members parse it again
    assert (again.scheme, again.opaque, again.user, again.host, again.escaped_path(), again.raw_query) == (
        url.scheme,
        url.opaque,
        url.user,
        url.host,
        url.escaped_path(),
        url.raw_query,
    )
    assert (again.split_host(), again.query(), str(again)) == (url.split_host(), url.query(), str(url))


@pytest.mark.parametrize(
    ("text", "ok"),
    [  # parseRequestURLTests
        ("http://foo.com", True),
        ("http://foo.com/", True),
        ("http://foo.com/path", True),
        ("/", True),
        ("http://[fe80::1]/", True),
        ("http://[fe80::1%25en0]/", True),
        ("http://[fe80::1]:8080/", True),
        ("http://[fe80::1%25en0]:8080/", True),
        ("http://[fe80::1%25%65%6e%301-._~]/", True),
        ("http://[fe80::1%25%65%6e%301-._~]:8080/", True),
        ("foo.html", False),
        ("../dir/", False),
        (" http://foo.com", False),
        ("http://192.168.0.%31/", False),
        ("http://192.168.0.%31:8080/", False),
        ("http://[fe80::%31]/", False),
        ("http://[fe80::%31]:8080/", False),
        ("http://[fe80::%31%25en0]/", False),
        ("http://[fe80::%31%25en0]:8080/", False),
        ("http://[fe80::1%en0]/", False),
        ("http://[fe80::1%en0]:8080/", False),
    ],
)
def test_parse_request_uri(text: str, ok: bool) -> None:
    if ok:
        parse_request_uri(text)
    else:
        with pytest.raises(URLError, match=r'^parse "'):
            parse_request_uri(text)


def test_request_uri_reads_the_fragment_as_path_where_parse_cuts_it() -> None:
    request = parse_request_uri("https://example.com/a%20b#frag")
    assert (request.path, request.fragment) == (b"/a b#frag", b"")
    url = parse("https://example.com/a%20b#fr%20ag")
    assert (url.path, url.fragment, url.raw_fragment, str(url)) == (
        b"/a b",
        b"fr ag",
        b"",
        "https://example.com/a%20b#fr%20ag",
    )


def test_query_values_keep_their_order_and_drop_what_go_drops() -> None:
    url = parse("https://x/?b=2&a=1&b=%33&c=%zz&d;e=1&&f")
    assert url.query() == {"b": ["2", "3"], "a": ["1"], "f": [""]}
