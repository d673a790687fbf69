"""kubegate's offline authorizer: the answers of the CEL ``authorizer`` library.

kubegate runs without an API server, so ``authorizer...check(verb)`` is answered
by an :class:`AuthorizerConfig`: RBAC-like rules plus a default decision, read
from the policy set's AuthorizerConfig and RBAC documents
(:mod:`kubegate.cel.library.authz_files`, which describes them).

:func:`authorize` answers as Kubernetes' RBAC authorizer
(``plugin/pkg/auth/authorizer/rbac``) would with those rules: a privileged
group (``system:masters``) is allowed everything; a rule allows a request
when its subjects include the user and every field matches (``*`` for any
verb, API group or resource, ``*/subresource`` and ``url*`` patterns; field
and label selectors are ignored, as RBAC ignores them). When no rule allows
it, the default decides: ``deny`` (no opinion), ``allow`` or ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DEFAULT_CONFIG", "AuthorizerConfig", "AuthorizerRule", "Request", "Verdict", "authorize"]

NAME = "kubegate offline authorizer"


@dataclass(frozen=True)
class AuthorizerRule:
    """Verbs on resources or non-resource URLs, granted to users, groups and service accounts.

    Attributes:
        source: what the rule came from, for ``reason()`` (``rule 0 of authz.yaml``,
            ``RoleBinding "view/dev" of ClusterRole "view"``).
        rbac: whether it came from an RBAC binding (reasons start with ``RBAC:``).
    """

    verbs: tuple[str, ...]
    api_groups: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    resource_names: tuple[str, ...] = ()
    non_resource_urls: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    service_accounts: tuple[str, ...] = ()
    source: str = ""
    rbac: bool = False
    reason: str = ""


@dataclass(frozen=True)
class AuthorizerConfig:
    """The offline authorizer's configuration (its YAML form: :mod:`kubegate.cel.library.authz_files`).

    Attributes:
        default: ``deny`` (no opinion), ``allow`` or ``error``: the decision when no rule allows.
        reason / error: ``reason()`` / ``error()`` of a default decision (a generated text when empty).
        privileged_groups: groups allowed everything (the API server's ``system:masters``).
    """

    rules: tuple[AuthorizerRule, ...] = ()
    default: str = "deny"
    reason: str = ""
    error: str = ""
    privileged_groups: tuple[str, ...] = ("system:masters",)


DEFAULT_CONFIG = AuthorizerConfig()
"""No rules: only ``system:masters`` is allowed; everything else is no opinion."""


@dataclass(frozen=True)
class Request:
    """The attributes of one check (``authorizer.AttributesRecord``)."""

    user: str
    groups: tuple[str, ...]
    verb: str
    resource_request: bool
    api_group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""


@dataclass(frozen=True)
class Verdict:
    """A decision: ``allow``, ``deny`` or ``noOpinion``; its reason; an error text."""

    decision: str
    reason: str = ""
    error: str = ""


def _any(patterns: Sequence[str], value: str) -> bool:
    return "*" in patterns or value in patterns


def _resource_matches(rule: AuthorizerRule, request: Request) -> bool:
    """RBAC's ``ResourceMatches``: ``*``, ``resource[/subresource]`` or ``*/subresource``."""
    combined = f"{request.resource}/{request.subresource}" if request.subresource else request.resource
    for pattern in rule.resources:
        if pattern in ("*", combined):
            return True
        if request.subresource and pattern == "*/" + request.subresource:
            return True
    return False


def _url_matches(rule: AuthorizerRule, path: str) -> bool:
    return any(p in ("*", path) or (p.endswith("*") and path.startswith(p[:-1])) for p in rule.non_resource_urls)


def _subject(rule: AuthorizerRule, request: Request) -> str:
    """How the rule names the requester (``User "alice"``), ``""`` when it does not apply."""
    if request.user in rule.users:
        return f'User "{request.user}"'
    for group in rule.groups:
        if group in request.groups:
            return f'Group "{group}"'
    for account in rule.service_accounts:
        namespace, _, name = account.partition("/")
        if request.user == f"system:serviceaccount:{namespace}:{name}":
            return f'ServiceAccount "{account}"'
    return ""


def _allows(rule: AuthorizerRule, request: Request) -> bool:
    if not _any(rule.verbs, request.verb):
        return False
    if not request.resource_request:
        return not rule.namespaces and _url_matches(rule, request.path)
    return (
        _any(rule.api_groups, request.api_group)
        and _resource_matches(rule, request)
        and (not rule.resource_names or request.name in rule.resource_names)
        and (not rule.namespaces or request.namespace in rule.namespaces)
    )


def _describe(request: Request) -> str:
    if not request.resource_request:
        return f'{request.verb} path "{request.path}"'
    what = request.resource + (f"/{request.subresource}" if request.subresource else "")
    group = f' in API group "{request.api_group}"' if request.api_group else ""
    where = f' in namespace "{request.namespace}"' if request.namespace else " at the cluster scope"
    name = f' named "{request.name}"' if request.name else ""
    return f"{request.verb} {what}{name}{group}{where}"


def authorize(config: AuthorizerConfig, request: Request) -> Verdict:
    """The offline authorizer's answer to ``request`` (privileged groups, then
    the rules in order, then the default)."""
    for group in config.privileged_groups:
        if group in request.groups:
            return Verdict("allow", f'{NAME}: allowed: user is in the privileged group "{group}"')
    for rule in config.rules:
        subject = _subject(rule, request)
        if subject and _allows(rule, request):
            prefix = "RBAC" if rule.rbac else NAME
            return Verdict("allow", rule.reason or f"{prefix}: allowed by {rule.source} to {subject}")
    who = f'user "{request.user}"'
    if config.default == "allow":
        return Verdict("allow", config.reason or f"{NAME}: allowed by default ({who}, {_describe(request)})")
    if config.default == "error":
        text = config.error or f"{NAME}: configured to fail ({who}, {_describe(request)})"
        return Verdict("noOpinion", config.reason, text)
    return Verdict("noOpinion", config.reason or f"{NAME}: no rule allows {who} to {_describe(request)}")
