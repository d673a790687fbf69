"""The CEL environment of each Kubernetes version (k8s.io/apiserver
pkg/cel/environment/base.go): extensions, libraries and checks by version."""

from __future__ import annotations

import pytest

from kubegate.cel.env import extensions_yaml, kubernetes_version, libraries
from kubegate.cel.library import quantity, semver
from kubegate.cel.program import CelError, EmbeddedCel, activation, compile_expression
from kubegate.engine.engine import Engine


def compiles(text: str, version: tuple[int, int]) -> bool:
    try:
        compile_expression(EmbeddedCel(text, "t"), ["object"], version)
    except CelError:
        return False
    return True


@pytest.mark.parametrize(
    ("text", "since"),
    [
        ("['a', 'b'].join('-') == 'a-b'", (1, 29)),  # strings extension version 2
        ("'abc'.lowerAscii() == 'abc'", (1, 0)),  # strings version 0
        ("object.?spec.orValue(1) == 1", (1, 28)),  # optionals
        ("sets.contains([1, 2], [1])", (1, 29)),
        ("quantity('1Gi').isGreaterThan(quantity('1Mi'))", (1, 28)),
        ("ip('10.0.0.1').family() == 4 && cidr('10.0.0.0/8').containsIP('10.1.2.3')", (1, 30)),
        ("!format.dns1123Label().validate('a').hasValue()", (1, 31)),
        ("semver('1.2.3').isLessThan(semver('1.10.0'))", (1, 33)),
        ("url('https://x.example/p').getHost() == 'x.example'", (1, 0)),
        ("[3, 1].isSorted() == false", (1, 0)),
        ("1 < 1.5", (1, 28)),  # cross-type numeric comparisons
    ],
)
def test_what_compiles_from_which_version(text: str, since: tuple[int, int]) -> None:
    assert compiles(text, since)
    assert compiles(text, (1, 34))
    if since > (1, 0):
        before = (since[0], since[1] - 1)
        assert not compiles(text, before)


def test_kubernetes_compile_time_checks_start_at_1_29() -> None:
    assert compiles("[1, 'a'].size() == 2", (1, 28))
    assert not compiles("[1, 'a'].size() == 2", (1, 29))
    assert compiles("'a'.matches('(')", (1, 28))
    assert not compiles("'a'.matches('(')", (1, 29))


def test_versions_and_libraries() -> None:
    assert kubernetes_version("v1.31.4") == (1, 31) == kubernetes_version("1.31")
    with pytest.raises(ValueError, match="not a Kubernetes version"):
        kubernetes_version("latest")
    assert "version: 0" in extensions_yaml((1, 28)) and "sets" not in extensions_yaml((1, 28))
    assert "bindings" in extensions_yaml((1, 34), internal=True)
    assert quantity in libraries((1, 28)) and quantity not in libraries((1, 27))
    assert semver in libraries((1, 33)) and semver not in libraries((1, 32))


def test_the_engine_compiles_policies_for_its_kubernetes_version() -> None:
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": "versions.example.org"},
        "spec": {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["apps"],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["deployments"],
                    }
                ]
            },
            "validations": [{"expression": "semver(object.metadata.labels.version).major() >= 2"}],
        },
    }
    old = Engine(objects=[policy], builtin=False, kubernetes_version="1.32")
    assert [e.code for e in old.errors] == ["cel_type_error"]
    assert "undeclared reference to 'semver'" in old.errors[0].message
    assert not Engine(objects=[policy], builtin=False, kubernetes_version="1.33").errors


def test_two_variable_comprehensions_from_1_32() -> None:
    assert compiles("[1, 2].all(i, v, v > i)", (1, 32))
    assert not compiles("[1, 2].all(i, v, v > i)", (1, 31))
    program = compile_expression(EmbeddedCel("{'a': 1}.exists(k, v, k == 'a' && v == 1)", "t"), ["object"])
    assert program.evaluate(activation(program, {"object": None})) is True
    broken = compile_expression(EmbeddedCel("{'a': 1}.transformMap(k, v, v + 1).size() == 1", "t"), ["object"])
    with pytest.raises(CelError, match=r"cel\.@mapInsert"):  # cel-cpp's runtime lacks it
        broken.evaluate(activation(broken, {"object": None}))
