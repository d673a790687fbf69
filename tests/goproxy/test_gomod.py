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
