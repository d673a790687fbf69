"""Trust policy files: the format, located errors with stable codes, versions, globs."""

from __future__ import annotations

import base64
import textwrap
from pathlib import Path

import pytest

from kubegate.errors import KubegateError
from kubegate.images import KeyAttestor, load_trust_policy, parse_reference, parse_trust_policy
from kubegate.images.trust_policy import glob_match
from tests.images.signer import Signer

HEAD = "apiVersion: kubegate.io/v1alpha1\nkind: ImageTrustPolicy\n"


@pytest.fixture(scope="module")
def pem() -> str:
    return Signer.generate("ecdsa").public_pem()


def _indented(pem: str, spaces: int) -> str:
    return textwrap.indent(pem, " " * spaces)


def test_full_file(tmp_path: Path, pem: str) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "release.pub").write_text(pem)
    other = Signer.generate("ed25519").public_pem()
    (tmp_path / "docker.json").write_text('{"auths": {"registry.bank.internal": {"auth": "Y2k6cHc="}}}')
    text = (
        HEAD
        + textwrap.dedent(
            """\
        settings:
          timeoutMs: 1500
          retries: 2
          verifiedTtlSeconds: 600
          failedTtlSeconds: 20
        registries:
          - host: registry.bank.internal
            caFile: docker.json
            dockerConfig: docker.json
        policies:
          - name: payments
            images: ["registry.bank.internal/payments/*"]
            mode: count
            count: 2
            annotations: {git-sha: 4f1c}
            attestors:
              - name: release
                key: {file: keys/release.pub}
              - name: security
                keys:
                  - secret: {namespace: kubegate, name: signing, key: cosign.pub}
                identities: ["registry.bank.internal/**"]
              - name: inline
                key:
                  pem: |
        """
        )
        + _indented(pem, 20)
    )
    inventory = {
        "namespace": {
            "kubegate": {
                "v1": {"Secret": {"signing": {"data": {"cosign.pub": base64.b64encode(other.encode()).decode()}}}}
            }
        }
    }
    source = tmp_path / "trust.yaml"
    source.write_text(text)
    policy = load_trust_policy(str(source), inventory)
    payments = policy.policy("payments")
    assert payments is not None
    assert (payments.mode, payments.count, payments.required, payments.annotations) == (
        "count",
        2,
        True,
        (("git-sha", "4f1c"),),
    )
    kinds = [[k.kind for k in a.keys] for a in payments.attestors if isinstance(a, KeyAttestor)]
    assert kinds == [["ecdsa-p256"], ["ed25519"], ["ecdsa-p256"]]
    assert payments.attestors[1].identities == ("registry.bank.internal/**",)  # type: ignore[union-attr]
    registry = policy.registry("registry.bank.internal")
    assert (registry.timeout_ms, registry.retries, registry.ca_file) == (1500, 2, str(tmp_path / "docker.json"))
    assert registry.auths == {"registry.bank.internal": {"auth": "Y2k6cHc="}}
    assert policy.registry("elsewhere.io").host == "*"
    assert (policy.verified_ttl_s, policy.failed_ttl_s) == (600.0, 20.0)
    assert policy.match(parse_reference("registry.bank.internal/payments/api:1")) is payments
    assert policy.match(parse_reference("registry.bank.internal/payments/team/api:1")) is None
    assert policy.version.startswith("sha256:")


def test_version_follows_content_and_key_files(tmp_path: Path, pem: str) -> None:
    (tmp_path / "k.pub").write_text(pem)
    text = (
        HEAD
        + "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - name: a\n        key: {file: k.pub}\n"
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    first = load_trust_policy(str(path)).version
    path.write_text(text.replace("policies:", "# a comment\npolicies:"))
    assert load_trust_policy(str(path)).version == first  # normalised content: comments do not count
    (tmp_path / "k.pub").write_text(Signer.generate("ecdsa").public_pem())
    assert load_trust_policy(str(path)).version != first
    path.write_text(text.replace("'**'", "'a/**'"))
    assert load_trust_policy(str(path)).version != first


@pytest.mark.parametrize(
    ("body", "code", "line", "column"),
    [
        ("policies:\n  - name: p\n    imges: ['**']\n", "trust_policy_unknown_field", 5, 5),
        ("policies:\n  - name: p\n    images: ['**']\n    attestors: []\n", "trust_policy_invalid", 6, 16),
        (
            "policies:\n  - name: p\n    images: ['**']\n    mode: two-of\n    attestors: [{name: a, key: {pem: x}}]\n",
            "trust_policy_invalid",
            6,
            11,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - {name: a, key: {pem: not-a-key}}\n",
            "key_invalid",
            7,
            24,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - {name: a, key: {file: missing.pub}}\n",
            "trust_policy_file_error",
            7,
            31,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    attestors:\n"
            "      - {name: a, key: {secret: {namespace: n, name: s}}}\n",
            "trust_policy_secret_not_found",
            7,
            33,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - {name: a}\n",
            "trust_policy_invalid",
            7,
            9,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    count: 1\n"
            "    attestors:\n      - {name: a, key: {pem: x}}\n",
            "trust_policy_invalid",
            4,
            5,
        ),
        (
            "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - name: a\n"
            "        keyless: {issuer: i, subject: s, subjectRegExp: r, trustedRoot: t}\n",
            "trust_policy_invalid",
            8,
            18,
        ),
        ("registries:\n  - {host: h, timeoutMs: 0}\npolicies: []\n", "trust_policy_invalid", 4, 26),
        ("policies: {a: 1}\n", "trust_policy_invalid", 3, 11),
        ("policies:\n  - name: p\n  - name: [\n", "yaml_parse_error", 0, 0),
    ],
)
def test_located_errors(body: str, code: str, line: int, column: int) -> None:
    with pytest.raises(KubegateError) as error:
        parse_trust_policy(HEAD + body, "trust.yaml")
    assert error.value.code == code
    if line:
        assert error.value.location is not None
        assert (error.value.location.file, error.value.location.line, error.value.location.column) == (
            "trust.yaml",
            line,
            column,
        )


def test_duplicates_and_header(pem: str) -> None:
    attestor = "{name: a, key: {pem: '" + pem.replace("\n", "\\n") + "'}}"
    twice = HEAD + f"policies:\n  - name: p\n    images: ['**']\n    attestors: [{attestor}, {attestor}]\n"
    with pytest.raises(KubegateError) as error:
        parse_trust_policy(twice.replace("'", '"'), "t.yaml")
    assert error.value.code == "trust_policy_duplicate"
    with pytest.raises(KubegateError) as error:
        parse_trust_policy("apiVersion: v1\nkind: ConfigMap\npolicies: []\n", "t.yaml")
    assert error.value.code == "trust_policy_invalid"
    with pytest.raises(KubegateError) as error:
        parse_trust_policy("", "t.yaml")
    assert error.value.code == "trust_policy_invalid"


@pytest.mark.parametrize(
    ("pattern", "name", "matched"),
    [
        ("registry.bank.internal/payments/*", "registry.bank.internal/payments/api", True),
        ("registry.bank.internal/payments/*", "registry.bank.internal/payments/team/api", False),
        ("registry.bank.internal/payments/**", "registry.bank.internal/payments/team/api", True),
        ("**", "docker.io/library/nginx", True),
        ("docker.io/library/ngin?", "docker.io/library/nginx", True),
        ("*.bank.internal/**", "registry.bank.internal/payments/api", True),
        ("*.bank.internal/**", "evil.io/registry.bank.internal/x", False),
    ],
)
def test_globs(pattern: str, name: str, matched: bool) -> None:
    assert glob_match(pattern, name) is matched


def test_keyless_attestor_and_trusted_root_errors(tmp_path: Path) -> None:
    root = Path(__file__).parent / "fixtures" / "sigstore" / "trusted_root.json"
    body = (
        "policies:\n  - name: p\n    images: ['**']\n    attestors:\n      - name: ci\n"
        "        keyless: {issuer: https://issuer.example, subjectRegExp: 'ci@.*', trustedRoot: ROOT}\n"
    )
    policy = parse_trust_policy(HEAD + body.replace("ROOT", str(root)), str(tmp_path / "t.yaml"))
    attestor = policy.policies[0].attestors[0]
    assert (attestor.issuer, attestor.subject_regexp, attestor.trusted_root) == (  # type: ignore[union-attr]
        "https://issuer.example",
        "ci@.*",
        str(root),
    )
    (tmp_path / "bad_root.json").write_text('{"mediaType": "nonsense"}')
    for name, code in (("bad_root.json", "trust_policy_file_error"), ("absent.json", "trust_policy_file_error")):
        with pytest.raises(KubegateError) as error:
            parse_trust_policy(HEAD + body.replace("ROOT", name), str(tmp_path / "t.yaml"))
        assert error.value.code == code
        assert error.value.location is not None and error.value.location.line == 8
    with pytest.raises(KubegateError) as error:
        parse_trust_policy(HEAD + body.replace("ROOT", str(root)).replace("'ci@.*'", "'ci@(('"), "t.yaml")
    assert error.value.code == "trust_policy_invalid"


@pytest.mark.parametrize(
    "inventory",
    [
        {"namespace": ["not", "a", "mapping"]},
        {"namespace": {"ns": {"v1": {"Secret": {"keys": "text"}}}}},
        {"namespace": {"ns": {"v1": {"Secret": {"keys": {"data": {"other.pub": "eA=="}}}}}}},
        {"namespace": {"ns": {"v1": {"Secret": {"keys": {"data": []}}}}}},
    ],
)
def test_secret_references_in_odd_inventories(inventory: dict[str, object]) -> None:
    body = (
        "policies:\n  - name: p\n    images: ['**']\n    attestors:\n"
        "      - {name: a, key: {secret: {namespace: ns, name: keys}}}\n"
    )
    with pytest.raises(KubegateError) as error:
        parse_trust_policy(HEAD + body, "t.yaml", inventory)
    assert error.value.code == "trust_policy_secret_not_found"


def test_secret_value_not_base64() -> None:
    inventory = {"namespace": {"ns": {"v1": {"Secret": {"keys": {"data": {"cosign.pub": "@@@"}}}}}}}
    body = (
        "policies:\n  - name: p\n    images: ['**']\n    attestors:\n"
        "      - {name: a, key: {secret: {namespace: ns, name: keys}}}\n"
    )
    with pytest.raises(KubegateError) as error:
        parse_trust_policy(HEAD + body, "t.yaml", inventory)
    assert error.value.code == "trust_policy_invalid"
