"""Kubernetes' authorizer library (k8s.io/apiserver ``pkg/cel/library/authz.go``;
``Authz`` since Kubernetes 1.27 and ``AuthzSelectors`` since 1.31, stable in
1.34, ``environment/base.go``; https://kubernetes.io/docs/reference/using-api/cel/#kubernetes-authorizer-library):

* ``authorizer.path(p) -> PathCheck`` (an error for a blank path),
  ``authorizer.group(g) -> GroupCheck``,
  ``authorizer.serviceAccount(namespace, name) -> Authorizer`` (the account's
  user and groups; an error for an invalid name or namespace);
* ``GroupCheck.resource(r) -> ResourceCheck`` (an error for a blank resource);
  ``ResourceCheck.subresource/namespace/name/fieldSelector/labelSelector(s)``;
* ``PathCheck.check(httpVerb)`` / ``ResourceCheck.check(apiVerb) -> Decision``;
  ``Decision.allowed()``, ``reason()``, ``errored()``, ``error()``;
* the variable ``authorizer.requestResource``: a ResourceCheck for the
  request's own resource (:func:`request_resource_value`; the qualified name
  :data:`REQUEST_RESOURCE` is declared as a variable of its own, as Kubernetes
  does, and evaluated text reads it from :data:`REQUEST_RESOURCE_BINDING`:
  :func:`rewrite_request_resource`).

The answers come from kubegate's offline authorizer
(:mod:`kubegate.cel.library.authz_config`). Each value is a carrier
(``kubernetes.authorization.*``) holding its state as canonical JSON (sorted
keys); the Authorizer names its config by a key into a module registry, since
the library's implementations are global. Field and label selectors are kept
in the ResourceCheck and ignored by the decision, as RBAC ignores them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

from cel_expr_python import cel

from kubegate.cel import carriers
from kubegate.cel.library.authz_config import DEFAULT_CONFIG, AuthorizerConfig, Request, authorize
from kubegate.cel.library.format import dns1123_label, dns1123_subdomain
from kubegate.cel.overloads import Function, Library, Overload, checking_extension
from kubegate.cel.rewrite import _outside_strings

__all__ = [
    "LIBRARY",
    "REQUEST_RESOURCE",
    "REQUEST_RESOURCE_BINDING",
    "VARIABLES",
    "authorizer_value",
    "extension",
    "register",
    "request_resource_value",
    "rewrite_request_resource",
]

SINCE = (1, 27)
"""The Kubernetes version whose CEL environment has this library (environment/base.go)."""

REQUEST_RESOURCE = "authorizer.requestResource"
"""The variable holding the request's ResourceCheck (``RequestResourceAuthorizerVarName``),
declared for type checking."""

REQUEST_RESOURCE_BINDING = "__kg_authorizer_request_resource"
"""The name :func:`rewrite_request_resource` reads ``authorizer.requestResource`` from
in evaluated text; bind the :func:`request_resource_value` under it."""

VARIABLES = ("authorizer", REQUEST_RESOURCE)
"""The variables a policy with an authorizer declares."""

_PREFIX = "kubernetes.authorization."
_CONFIGS: dict[str, AuthorizerConfig] = {}
_GO_SPACE = "".join(c for c in map(chr, range(0x3001)) if c.isspace() and c not in "\x1c\x1d\x1e\x1f")
"""Go's ``unicode.IsSpace`` characters (``strings.TrimSpace``)."""


def _make(kind: str, state: Mapping[str, Any]) -> Any:
    return carriers.carrier(_PREFIX + kind, json.dumps(state, sort_keys=True, separators=(",", ":")))


def _state(message: Any) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(carriers.canonical(message))
    return state


def register(config: AuthorizerConfig) -> str:
    """The registry key of ``config`` (its content hash), registering it."""
    key = hashlib.sha256(repr(config).encode()).hexdigest()[:16]
    _CONFIGS.setdefault(key, config)
    return key


def _user(user_info: Mapping[str, Any] | None, config: AuthorizerConfig | None) -> dict[str, Any]:
    info = user_info or {}
    groups = [str(g) for g in info.get("groups") or []]
    return {"config": register(config or DEFAULT_CONFIG), "groups": groups, "user": str(info.get("username") or "")}


def authorizer_value(user_info: Mapping[str, Any] | None, config: AuthorizerConfig | None = None) -> Any:
    """The value of ``authorizer`` for a request by ``user_info``.

    Args:
        user_info: the AdmissionRequest's ``userInfo`` (``username``, ``groups``; ``None``: anonymous, no groups).
        config: the offline authorizer's config (:data:`DEFAULT_CONFIG` when ``None``).

    Returns:
        A ``kubernetes.authorization.Authorizer`` carrier.
    """
    return _make("Authorizer", _user(user_info, config))


def request_resource_value(request: Mapping[str, Any], config: AuthorizerConfig | None = None) -> Any:
    """The value of ``authorizer.requestResource`` (``NewResourceAuthorizerVal``).

    Args:
        request: an AdmissionRequest: ``resource`` (``group``, ``version``,
            ``resource``), ``subResource``, ``namespace``, ``name``, ``userInfo``.
        config: as for :func:`authorizer_value`.

    Returns:
        A ``kubernetes.authorization.ResourceCheck`` carrier.
    """
    resource = request.get("resource") or {}
    return _make(
        "ResourceCheck",
        {
            "authorizer": _user(request.get("userInfo"), config),
            "group": str(resource.get("group") or ""),
            "resource": str(resource.get("resource") or ""),
            "subresource": str(request.get("subResource") or ""),
            "namespace": str(request.get("namespace") or ""),
            "name": str(request.get("name") or ""),
            "fieldSelector": "",
            "labelSelector": "",
        },
    )


def _path(authz: Any, path: str) -> Any:
    if not path.strip(_GO_SPACE):
        raise ValueError("path must not be empty")
    return _make("PathCheck", {"authorizer": _state(authz), "path": path})


def _group(authz: Any, group: str) -> Any:
    return _make("GroupCheck", {"authorizer": _state(authz), "group": group})


def _service_account(authz: Any, namespace: str, name: str) -> Any:
    """``serviceaccount.ServiceAccountInfo.UserInfo()`` for the account."""
    if dns1123_subdomain(name):
        raise ValueError("Invalid service account name")
    if dns1123_label(namespace):
        raise ValueError("Invalid service account namespace")
    state = _state(authz)
    state["user"] = f"system:serviceaccount:{namespace}:{name}"
    state["groups"] = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
    return _make("Authorizer", state)


def _resource(group_check: Any, resource: str) -> Any:
    if not resource.strip(_GO_SPACE):
        raise ValueError("resource must not be empty")
    state = _state(group_check)
    fields = {"resource": resource, "subresource": "", "namespace": "", "name": ""}
    return _make("ResourceCheck", {**state, **fields, "fieldSelector": "", "labelSelector": ""})


def _setter(field: str) -> Any:
    def set_field(check: Any, value: str) -> Any:
        return _make("ResourceCheck", {**_state(check), field: value})

    return set_field


def _decide(authz: Mapping[str, Any], **attributes: Any) -> Any:
    config = _CONFIGS.get(str(authz.get("config")))
    if config is None:
        raise ValueError("this authorizer has no configuration (it was not built by kubegate)")
    request = Request(user=str(authz.get("user", "")), groups=tuple(authz.get("groups") or ()), **attributes)
    verdict = authorize(config, request)
    return _make("Decision", {"decision": verdict.decision, "error": verdict.error, "reason": verdict.reason})


def _path_check(check: Any, verb: str) -> Any:
    state = _state(check)
    return _decide(state["authorizer"], verb=verb, resource_request=False, path=state["path"])


def _resource_check(check: Any, verb: str) -> Any:
    s = _state(check)
    return _decide(
        s["authorizer"],
        verb=verb,
        resource_request=True,
        api_group=s["group"],
        resource=s["resource"],
        subresource=s["subresource"],
        namespace=s["namespace"],
        name=s["name"],
    )


def _decision_field(field: str) -> Any:
    return lambda decision: _state(decision)[field]


def _member(name: str, overload: str, result: Any, params: tuple[Any, ...], impl: Any) -> Function:
    return Function(name, (Overload(overload, result, params, impl, member=True),))


_A, _P, _G, _R, _D = (_PREFIX + k for k in ("Authorizer", "PathCheck", "GroupCheck", "ResourceCheck", "Decision"))
_S = cel.Type.STRING

LIBRARY = Library(
    "kubernetes.authz",
    (
        _member("path", "authorizer_path", _P, (_A, _S), _path),
        _member("group", "authorizer_group", _G, (_A, _S), _group),
        _member("serviceAccount", "authorizer_serviceaccount", _A, (_A, _S, _S), _service_account),
        _member("resource", "groupcheck_resource", _R, (_G, _S), _resource),
        _member("subresource", "resourcecheck_subresource", _R, (_R, _S), _setter("subresource")),
        _member("namespace", "resourcecheck_namespace", _R, (_R, _S), _setter("namespace")),
        _member("name", "resourcecheck_name", _R, (_R, _S), _setter("name")),
        _member("fieldSelector", "authorizer_fieldselector", _R, (_R, _S), _setter("fieldSelector")),
        _member("labelSelector", "authorizer_labelselector", _R, (_R, _S), _setter("labelSelector")),
        Function(
            "check",
            (
                Overload("pathcheck_check", _D, (_P, _S), _path_check, member=True),
                Overload("resourcecheck_check", _D, (_R, _S), _resource_check, member=True),
            ),
        ),
        _member("allowed", "decision_allowed", cel.Type.BOOL, (_D,), lambda d: _state(d)["decision"] == "allow"),
        _member("reason", "decision_reason", _S, (_D,), _decision_field("reason")),
        _member("errored", "decision_errored", cel.Type.BOOL, (_D,), lambda d: bool(_state(d)["error"])),
        _member("error", "decision_error", _S, (_D,), _decision_field("error")),
    ),
)
"""The library as data (Kubernetes' overload ids): checked as declared; at run
time the two ``check`` overloads share one dispatcher (:mod:`kubegate.cel.overloads`)."""


def extension() -> object:
    """The library's checking extension (evaluation goes through :data:`LIBRARY`)."""
    return checking_extension(LIBRARY)


_REQUEST_RESOURCE_REF = re.compile(r"(?<![\w.])authorizer\s*\.\s*requestResource(?!\w)")


def rewrite_request_resource(text: str) -> str:
    """``text`` with each ``authorizer.requestResource`` read from the variable
    :data:`REQUEST_RESOURCE_BINDING`: evaluation parses text without the checker,
    and only the checker resolves a qualified variable name (unchecked, it is a
    field selection on ``authorizer``)."""
    plain = _outside_strings(text)
    spans = [m.span() for m in _REQUEST_RESOURCE_REF.finditer(plain)]
    out, last = [], 0
    for start, end in spans:
        out += [text[last:start], REQUEST_RESOURCE_BINDING]
        last = end
    return "".join([*out, text[last:]])
