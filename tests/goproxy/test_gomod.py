from __future__ import annotations

import pytest

from kubegate.errors import InputError
from kubegate.goproxy.gomod import parse_gomod

TEXT = """// a comment
module "example.test/app"

go 1.19

require example.test/one v1.0.0
require (
	example.test/two v0.2.0 // indirect
	`example.test/three` v3.0.0+incompatible
)

exclude example.test/one v0.9.0
replace example.test/two => ../two

// v1.0.1 published a secret
retract v1.0.1
retract (
	[v1.1.0, v1.1.9] // broken range
)
"""


def test_directives() -> None:
    gm = parse_gomod(TEXT)
    assert gm.module == "example.test/app"
    assert gm.go == "1.19"
    assert [(r.path, r.version, r.indirect) for r in gm.requires] == [
        ("example.test/one", "v1.0.0", False),
        ("example.test/two", "v0.2.0", True),
        ("example.test/three", "v3.0.0+incompatible", False),
    ]
    assert gm.excludes == (("example.test/one", "v0.9.0"),)
    assert gm.replaces == (("example.test/two", "", "../two", ""),)
    one, span = gm.retracted("v1.0.1"), gm.retracted("v1.1.5")
    assert one is not None and one.rationale == "v1.0.1 published a secret"
    assert span is not None and span.rationale == "broken range"
    assert gm.retracted("v1.2.0") is None and gm.retracted("v1.0.0") is None
    requires: list[dict[str, object]] = gm.to_input()["require"]  # type: ignore[assignment]
    assert requires[1] == {"path": "example.test/two", "version": "v0.2.0", "indirect": True}


@pytest.mark.parametrize("bad", ["go 1.19\n", 'module "unterminated\n'])
def test_errors(bad: str) -> None:
    with pytest.raises(InputError) as err:
        parse_gomod(bad)
    assert err.value.code == "gomod_invalid"


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("module example.com/x\n\nrequire (\n  broken\n)\n", 4),  # a requirement without a version
        ("module example.com/x\nrequire a.b/c\n", 2),
        ("module example.com/x\nexclude a.b/c v1 v2\n", 2),
        ("module example.com/x\nretract [v1.0.0 v1.1.0]\n", 2),
        ("module example.com/x\n\nrequire (\n  a.b/c v1.0.0\n", 4),  # never closed
    ],
)
def test_a_malformed_directive_is_a_located_error_not_skipped(text: str, line: int) -> None:
    with pytest.raises(InputError) as info:
        parse_gomod(text, "go.mod")
    assert info.value.code == "gomod_invalid"
    assert info.value.location is not None and info.value.location.line == line


def test_directives_it_does_not_check_are_ignored_as_the_lax_parser_does() -> None:
    parsed = parse_gomod("module example.com/x\ntoolchain go1.21.0\ngodebug default=go1.21\n")
    assert parsed.module == "example.com/x"
