"""Reading kubegate's offline authorizer configuration
(:class:`~kubegate.cel.library.authz_config.AuthorizerConfig`) from YAML:
:func:`read_authorizer_files` (the policy set's authorizer documents),
:func:`read_authorizer_config` (one text), :func:`load_authorizer_config`
(one file). A file is a stream of documents, each one of:

* a kubegate config (at most one)::

    apiVersion: kubegate.io/v1alpha1
    kind: AuthorizerConfig
    default: deny               # deny (no opinion: allowed() is false), allow or error
    reason: "..."               # reason() of a default decision (optional)
    error: "..."                # error() when default is error (optional)
    privilegedGroups: [system:masters]   # always allowed, as the API server does
    rules:
    - users: [alice]            # who: users, groups, serviceAccounts ("namespace/name")
      groups: [dev]
      serviceAccounts: [ci/deployer]
      verbs: [get, list]        # "*" matches every verb
      apiGroups: [""]           # resource rules: apiGroups, resources ("pods/status",
      resources: [pods]         #   "*/scale", "*"), resourceNames (empty: any)
      namespaces: [default]     # empty: every namespace and the cluster scope
      nonResourceURLs: [/healthz, "/api/*"]   # non-resource rules (not with namespaces)

* RBAC objects (``rbac.authorization.k8s.io/v1`` Role, ClusterRole, RoleBinding,
  ClusterRoleBinding, also inside a ``v1`` ``List``): each binding grants its
  role's rules to its subjects, as Kubernetes' RBAC authorizer does
  (``plugin/pkg/auth/authorizer/rbac``: a RoleBinding only in its namespace
  and never for non-resource URLs; ``*/subresource`` and ``url*`` patterns).
  A Role without a namespace is in ``default``. ``aggregationRule`` is not
  evaluated (the ClusterRole's rules are used as written).

Each document is checked against a JSON schema of its kind. Errors are
:class:`AuthorizerConfigError` (``invalid_authorizer_config``) located at
file:line:col.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
import yaml

from kubegate.cel.library.authz_config import AuthorizerConfig, AuthorizerRule
from kubegate.errors import InputError, Location
from kubegate.yamlio import iter_yaml_stream, read_text

__all__ = [
    "AUTHORIZER_KINDS",
    "CONFIG_API_VERSION",
    "AuthorizerConfigError",
    "is_authorizer_document",
    "load_authorizer_config",
    "read_authorizer_config",
    "read_authorizer_files",
]


class AuthorizerConfigError(InputError):
    """An authorizer config file that cannot be used (``invalid_authorizer_config``)."""

    code = "invalid_authorizer_config"


_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
_RULE_FIELDS = {"verbs": _STRINGS, "apiGroups": _STRINGS, "resources": _STRINGS, "resourceNames": _STRINGS}
_RULE_FIELDS["nonResourceURLs"] = _STRINGS
_POLICY_RULE: dict[str, Any] = {
    "type": "object",
    "required": ["verbs"],
    "properties": _RULE_FIELDS,
    "dependentRequired": {"resources": ["apiGroups"]},
}
_META: dict[str, Any] = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1}, "namespace": {"type": "string"}},
}
_SUBJECT: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "name"],
    "properties": {
        "kind": {"enum": ["User", "Group", "ServiceAccount"]},
        "name": {"type": "string"},
        "namespace": {"type": "string"},
    },
}
_ROLE_REF: dict[str, Any] = {
    "type": "object",
    "required": ["kind", "name"],
    "properties": {"kind": {"enum": ["Role", "ClusterRole"]}, "name": {"type": "string"}},
}
CONFIG_API_VERSION = "kubegate.io/v1alpha1"
"""The apiVersion of an AuthorizerConfig document."""
_SCHEMAS: dict[str, dict[str, Any]] = {
    "AuthorizerConfig": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "kubegate.io/v1alpha1"},
            "kind": {"const": "AuthorizerConfig"},
            "default": {"enum": ["deny", "allow", "error"]},
            "reason": {"type": "string"},
            "error": {"type": "string"},
            "privilegedGroups": _STRINGS,
            "rules": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["verbs"],
                    "anyOf": [{"required": [k]} for k in ("users", "groups", "serviceAccounts")],
                    "dependentRequired": {"resources": ["apiGroups"]},
                    "properties": {
                        **_RULE_FIELDS,
                        "users": _STRINGS,
                        "groups": _STRINGS,
                        "serviceAccounts": {"type": "array", "items": {"type": "string", "pattern": "^[^/]+/[^/]+$"}},
                        "namespaces": _STRINGS,
                        "reason": {"type": "string"},
                    },
                    "not": {"required": ["namespaces", "nonResourceURLs"]},
                },
            },
        },
    },
    "Role": {
        "type": "object",
        "required": ["metadata"],
        "properties": {"metadata": _META, "rules": {"type": "array", "items": _POLICY_RULE}},
    },
    "RoleBinding": {
        "type": "object",
        "required": ["metadata", "roleRef"],
        "properties": {"metadata": _META, "roleRef": _ROLE_REF, "subjects": {"type": "array", "items": _SUBJECT}},
    },
}
_SCHEMAS["ClusterRole"] = _SCHEMAS["Role"]
_SCHEMAS["ClusterRoleBinding"] = _SCHEMAS["RoleBinding"]
_RBAC = "rbac.authorization.k8s.io/v1"


@dataclass(frozen=True)
class _Doc:
    value: Any
    node: yaml.Node
    source: str


def _location(source: str, node: yaml.Node, path: Sequence[Any]) -> Location:
    """The file position of ``path`` inside ``node`` (the deepest part found)."""
    for part in path:
        if isinstance(node, yaml.MappingNode):
            found = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            found = node.value[part]
        else:
            found = None
        if found is None:
            break
        node = found
    return Location(source, node.start_mark.line + 1, node.start_mark.column + 1)


def _documents(text: str, source: str) -> Iterator[_Doc]:
    try:
        for doc in iter_yaml_stream(text, source):
            if doc.value is None:
                continue
            is_list = isinstance(doc.value, dict) and doc.value.get("kind") == "List"
            if is_list and isinstance(doc.node, yaml.MappingNode):
                items = next((v for k, v in doc.node.value if getattr(k, "value", None) == "items"), None)
                values = doc.value.get("items") or []
                nodes = items.value if isinstance(items, yaml.SequenceNode) else []
                yield from (_Doc(v, n, source) for v, n in zip(values, nodes, strict=False))
            else:
                yield _Doc(doc.value, doc.node, source)
    except InputError as exc:
        raise AuthorizerConfigError(exc.message, exc.location, details={"cause": exc.code}) from None


def _checked(doc: _Doc, source: str) -> str:
    """The document's kind, after its schema check."""
    value = doc.value
    kind = value.get("kind") if isinstance(value, dict) else None
    if kind not in _SCHEMAS:
        raise AuthorizerConfigError(
            f"not an authorizer document: expected kind AuthorizerConfig, Role, ClusterRole, RoleBinding "
            f"or ClusterRoleBinding, got {kind!r}",
            _location(source, doc.node, ["kind"]),
        )
    if kind != "AuthorizerConfig" and value.get("apiVersion") != _RBAC:
        where = _location(source, doc.node, ["apiVersion"])
        raise AuthorizerConfigError(f"{kind} must have apiVersion {_RBAC}", where)
    error = jsonschema.exceptions.best_match(jsonschema.Draft202012Validator(_SCHEMAS[kind]).iter_errors(value))
    if error is not None:
        path = list(error.absolute_path)
        shown = "/".join(str(p) for p in path) or "the document"
        raise AuthorizerConfigError(f"{kind} {shown}: {error.message}", _location(source, doc.node, path))
    return str(kind)


def _tuple(value: Mapping[str, Any], key: str) -> tuple[str, ...]:
    return tuple(value.get(key) or ())


def _rule(policy: Mapping[str, Any], source: str, **who: Any) -> AuthorizerRule:
    """An :class:`AuthorizerRule` from a PolicyRule-shaped mapping and its subjects."""
    return AuthorizerRule(
        verbs=_tuple(policy, "verbs"),
        api_groups=_tuple(policy, "apiGroups"),
        resources=_tuple(policy, "resources"),
        resource_names=_tuple(policy, "resourceNames"),
        non_resource_urls=_tuple(policy, "nonResourceURLs"),
        source=source,
        **who,
    )


def _binding_rules(binding: Mapping[str, Any], roles: Mapping[tuple[str, str, str], Any]) -> Iterator[AuthorizerRule]:
    meta, ref = binding["metadata"], binding["roleRef"]
    namespaced = binding["kind"] == "RoleBinding"
    namespace = meta.get("namespace") or "default"
    role = roles[(ref["kind"], namespace if ref["kind"] == "Role" else "", ref["name"])]
    name = f"{meta['name']}/{namespace}" if namespaced else meta["name"]
    for subject in binding.get("subjects") or []:
        kind, who = subject["kind"], subject["name"]
        account = f"{subject.get('namespace') or (namespace if namespaced else '')}/{who}"
        if kind == "ServiceAccount" and account.startswith("/"):
            continue  # RBAC: a service account subject needs a namespace
        field, value = {"User": ("users", who), "Group": ("groups", who)}.get(kind, ("service_accounts", account))
        for rule in role.get("rules") or []:
            yield _rule(
                {**rule, "nonResourceURLs": []} if namespaced else rule,
                f'{binding["kind"]} "{name}" of {ref["kind"]} "{ref["name"]}"',
                **{field: (value,)},
                namespaces=(namespace,) if namespaced else (),
                rbac=True,
            )


AUTHORIZER_KINDS = frozenset(_SCHEMAS)
"""The kinds of authorizer documents: AuthorizerConfig and the RBAC kinds."""


def is_authorizer_document(value: Any) -> bool:
    """Whether a parsed document is one :func:`read_authorizer_files` reads
    (``kubegate.io/v1alpha1`` AuthorizerConfig, or an RBAC object)."""
    if not isinstance(value, Mapping):
        return False
    api_version, kind = value.get("apiVersion"), value.get("kind")
    if not isinstance(kind, str):
        return False
    return (kind == "AuthorizerConfig" and api_version == CONFIG_API_VERSION) or (
        kind in AUTHORIZER_KINDS and api_version == _RBAC
    )


def read_authorizer_config(text: str, source: str) -> AuthorizerConfig:
    """Reads an authorizer config from YAML text (see the module docstring).

    Args:
        text: a YAML stream of AuthorizerConfig and RBAC documents.
        source: the file name used in locations.

    Raises:
        AuthorizerConfigError: malformed YAML, an unknown kind, a schema error,
            two AuthorizerConfig documents, or a binding whose role is not defined.
    """
    return read_authorizer_files([(source, text)])


def read_authorizer_files(files: Sequence[tuple[str, str]], *, others: bool = False) -> AuthorizerConfig:
    """Reads one authorizer config from several YAML files, ``(name, text)``
    each (a binding may name a role of another file).

    Args:
        files: the files.
        others: skip documents that are not authorizer documents
            (:func:`is_authorizer_document`) instead of refusing them (policy
            files also hold policies).

    Raises:
        AuthorizerConfigError: as :func:`read_authorizer_config`.
    """
    config: dict[str, Any] | None = None
    roles: dict[tuple[str, str, str], Any] = {}
    bindings: list[_Doc] = []
    docs = (d for name, text in files for d in _documents(text, name))
    for doc in docs:
        if others and not is_authorizer_document(doc.value):
            continue
        source = doc.source
        kind = _checked(doc, source)
        if kind == "AuthorizerConfig":
            if config is not None:
                where = _location(source, doc.node, [])
                raise AuthorizerConfigError("a policy set holds at most one AuthorizerConfig", where)
            config = doc.value
        elif kind.endswith("Binding"):
            bindings.append(doc)
        else:
            meta = doc.value["metadata"]
            roles[(kind, (meta.get("namespace") or "default") if kind == "Role" else "", meta["name"])] = doc.value
    own = config or {}
    rules = [
        _rule(
            rule,
            f"rule {i} of {source}",
            namespaces=_tuple(rule, "namespaces"),
            users=_tuple(rule, "users"),
            groups=_tuple(rule, "groups"),
            service_accounts=_tuple(rule, "serviceAccounts"),
            reason=str(rule.get("reason", "")),
        )
        for i, rule in enumerate((config or {}).get("rules") or [])
    ]
    for doc in bindings:
        try:
            rules.extend(_binding_rules(doc.value, roles))
        except KeyError:
            ref = doc.value["roleRef"]
            where = _location(doc.source, doc.node, ["roleRef", "name"])
            named = doc.source if len(files) == 1 else "the authorizer documents"
            raise AuthorizerConfigError(f"{ref['kind']} {ref['name']!r} is not defined in {named}", where) from None
    return AuthorizerConfig(
        rules=tuple(rules),
        default=str(own.get("default", "deny")),
        reason=str(own.get("reason", "")),
        error=str(own.get("error", "")),
        privileged_groups=tuple(own.get("privilegedGroups", ("system:masters",))),
    )


def load_authorizer_config(path: str) -> AuthorizerConfig:
    """Reads the authorizer config file ``path`` (:func:`read_authorizer_config`).

    Raises:
        AuthorizerConfigError: an unreadable file, or as :func:`read_authorizer_config`.
    """
    try:
        text = read_text(path)
    except InputError as exc:
        raise AuthorizerConfigError(exc.message, exc.location, details={"cause": exc.code}) from None
    return read_authorizer_config(text, path)
