from __future__ import annotations

import pytest

from kubegate.goproxy.errors import NotFound
from kubegate.goproxy.escape import check_module_path, escape, unescape


@pytest.mark.parametrize(
    ("plain", "escaped"),
    [
        ("github.com/Azure/azure-sdk", "github.com/!azure/azure-sdk"),
        ("example.test/ABC", "example.test/!a!b!c"),
        ("v1.0.0-RC1", "v1.0.0-!r!c1"),
        ("golang.org/x/mod", "golang.org/x/mod"),
    ],
)
def test_round_trip(plain: str, escaped: str) -> None:
    assert escape(plain) == escaped
    assert unescape(escaped) == plain
    assert unescape(escaped.replace("!", "%21")) == plain


@pytest.mark.parametrize("bad", ["example.test/Upper", "example.test/!", "example.test/!1", "ex\u00e9.test/x"])
def test_unescape_rejects(bad: str) -> None:
    with pytest.raises(NotFound) as err:
        unescape(bad)
    assert err.value.code == "invalid_module_path"


@pytest.mark.parametrize(
    "bad", ["nodot/x", "example.test//x", "example.test/.x", "-example.test/x", "example.test/a b", ""]
)
def test_check_module_path(bad: str) -> None:
    with pytest.raises(NotFound):
        check_module_path(bad)
    check_module_path("example.test/a-b_c~d.e")
