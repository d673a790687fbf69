"""``kubegate push``, ``kubegate rollback`` and ``kubegate status``: the distributed policy store.

``push`` validates a policy set completely (as a server would load it)
before writing a single key, then stores it in one etcd transaction;
every ``kubegate serve --etcd`` replica picks it up. ``rollback`` puts the
file(s) defining a policy back to an earlier pushed version (from the history
the store keeps) as a new push. ``status`` shows what a server serves
(``--url``) or what the store holds (``--etcd``).
"""

from __future__ import annotations

import json
import os
import ssl
import time
import urllib.request
from collections.abc import Mapping
from typing import Any

import click

from kubegate.cli.inputs import load_parameters
from kubegate.cli.options import backend_option
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.backends import DEFAULT_BACKEND, make_backend
from kubegate.errors import ErrorList, InputError, UsageError
from kubegate.lifecycle.builder import PolicySetBuilder
from kubegate.lifecycle.etcd import EtcdStore, StoredSet
from kubegate.policy.documents import iter_input_files, read_text
from kubegate.policy.loader import POLICY_SUFFIXES

__all__ = ["push", "rollback", "status"]

_etcd = click.option("--etcd", "etcd_url", required=True, help="etcd endpoint, e.g. http://127.0.0.1:2379.")
_prefix = click.option("--prefix", default="/kubegate/policies/", show_default=True, help="etcd key prefix.")


def collect_files(paths: tuple[str, ...]) -> dict[str, str]:
    """Policy files under ``paths``, named relative to the directory given (a file by its name).

    Raises:
        InputError: a missing path, an unreadable file, or two files with one name.
    """
    files: dict[str, str] = {}
    for root in paths:
        if not os.path.exists(root):
            raise InputError(f"no such file or directory: {root}", code="file_not_found")
        for path in iter_input_files([root], POLICY_SUFFIXES):
            name = os.path.relpath(path, root) if os.path.isdir(root) else os.path.basename(path)
            if name in files:
                raise InputError(f"two policy files are both named {name}", code="duplicate_file_name")
            files[name] = read_text(path)
    return files


def validate(
    files: Mapping[str, str],
    builtin: bool,
    parameters: Mapping[str, Any],
    kubernetes_version: str,
    backend: str = DEFAULT_BACKEND,
) -> dict[str, dict[str, str]]:
    """Builds the set as a server would (with the Rego backend named ``backend``);
    returns ``{policy id: {"version", "file"}}``.

    Raises:
        ErrorList: every load error (the set must not be pushed).
        UsageError: ``unknown_backend``.
    """
    builder = PolicySetBuilder(
        make_backend(backend), builtin=builtin, parameters=parameters, kubernetes_version=kubernetes_version
    )
    result = builder.build(files)
    if result.errors:
        raise ErrorList(result.errors)
    return {
        p.id: {"version": p.version, "file": (p.location.file.split("#", 1)[0] if p.location else "")}
        for p in result.prepared.policies
        if not (p.location and p.location.file.startswith("builtin:"))
    }


@click.command("push")
@click.argument("paths", nargs=-1, required=True)
@_etcd
@_prefix
@click.option("--message", "-m", default="", help="Recorded with the push (shown by status and rollback).")
@click.option(
    "--no-builtin", is_flag=True, help="Validate without the built-in library (as servers run with --no-builtin)."
)
@click.option("--parameters", "parameters_file", type=click.Path(), help="Parameters the servers use, for validation.")
@click.option("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION, show_default=True)
@backend_option
def push(
    paths: tuple[str, ...],
    etcd_url: str,
    prefix: str,
    message: str,
    no_builtin: bool,
    parameters_file: str | None,
    kubernetes_version: str,
    backend: str,
) -> None:
    """Validate a policy set and write it to etcd in one transaction."""
    files = collect_files(paths)
    policies = validate(files, not no_builtin, load_parameters(parameters_file), kubernetes_version, backend)
    stored = EtcdStore(etcd_url, prefix).push(files, policies, message)
    click.echo(
        f"pushed {len(files)} file(s), {len(policies)} policies: seq {stored.seq}, "
        f"version {stored.version[:12]}, etcd revision {stored.revision}"
    )


@click.command("rollback")
@click.argument("policy")
@_etcd
@_prefix
@click.option("--to", "to_version", help="Version (or its prefix) to go back to; default: the one before the current.")
@click.option("--no-builtin", is_flag=True, help="Validate without the built-in library.")
@click.option("--parameters", "parameters_file", type=click.Path(), help="Parameters the servers use, for validation.")
@click.option("--kubernetes-version", default=DEFAULT_KUBERNETES_VERSION, show_default=True)
@backend_option
def rollback(
    policy: str,
    etcd_url: str,
    prefix: str,
    to_version: str | None,
    no_builtin: bool,
    parameters_file: str | None,
    kubernetes_version: str,
    backend: str,
) -> None:
    """Put POLICY back to an earlier version kept in the store's history (a new push)."""
    store = EtcdStore(etcd_url, prefix)
    current = store.read()
    if current is None or policy not in current.policies:
        raise UsageError(f"policy {policy} is not in the stored policy set", code="unknown_policy")
    now = current.policies[policy]["version"]
    target = _target(store.history(), current, policy, now, to_version)
    file = target.policies[policy]["file"]
    files = dict(current.files)
    files[file] = target.files[file]
    current_file = current.policies[policy]["file"]
    if current_file != file and current_file in files:
        del files[current_file]
    policies = validate(files, not no_builtin, load_parameters(parameters_file), kubernetes_version, backend)
    version = target.policies[policy]["version"]
    stored = store.push(files, policies, f"rollback {policy} to {version[:12]} (from push {target.seq})")
    changed = sorted(pid for pid, v in policies.items() if current.policies.get(pid, {}).get("version") != v["version"])
    click.echo(
        f"rolled {policy} back from {now[:12]} to {version[:12]}: seq {stored.seq}; changed: {', '.join(changed)}"
    )


def _target(history: list[StoredSet], current: StoredSet, policy: str, now: str, to: str | None) -> StoredSet:
    for entry in history:
        if entry.seq >= current.seq:
            continue
        version = (entry.policies.get(policy) or {}).get("version")
        if version is None:
            continue
        if (to is not None and version.startswith(to)) or (to is None and version != now):
            return entry
    wanted = f"version {to}" if to else "an earlier version"
    raise UsageError(f"the store's history has no {wanted} of {policy}", code="version_not_found")


@click.command("status")
@click.option("--url", help="A kubegate server, e.g. https://kubegate.kubegate-system.svc:443.")
@click.option("--cacert", type=click.Path(), help="CA bundle to verify the server (default: system trust).")
@click.option("--insecure", is_flag=True, help="Do not verify the server's certificate.")
@click.option("--etcd", "etcd_url", help="Show what the etcd store holds instead.")
@_prefix
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
def status(url: str | None, cacert: str | None, insecure: bool, etcd_url: str | None, prefix: str, output: str) -> None:
    """Show the policies a server serves (--url) or the store holds (--etcd)."""
    if bool(url) == bool(etcd_url):
        raise UsageError("give one of --url (a server) or --etcd (the store)")
    if etcd_url:
        _store_status(EtcdStore(etcd_url, prefix), output)
        return
    assert url is not None
    context = ssl.create_default_context(cafile=cacert) if cacert else ssl.create_default_context()
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url.rstrip("/") + "/policies", context=context, timeout=10) as reply:
            doc = json.loads(reply.read())
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {url}/policies: {exc}", code="server_unreachable") from None
    if output == "json":
        click.echo(json.dumps(doc, indent=2))
        return
    source = doc.get("source") or {}
    click.echo(f"policy set {str(doc.get('policySetVersion'))[:12]} (#{doc.get('sequence')}) from {doc.get('origin')}")
    if source.get("error"):
        click.echo(f"source FAILING for {source.get('staleSeconds')} s: {source['error'].get('message')}")
    click.echo(f"{'POLICY':40} {'VERSION':12} {'ROLLOUT':24} {'LOADED':20} SOURCE")
    for p in doc.get("policies") or []:
        loaded = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(p["loadedAt"])) if p.get("loadedAt") else "-"
        click.echo(f"{p['id'][:40]:40} {p['version'][:12]:12} {p['rollout'][:24]:24} {loaded:20} {p['source']}")
        if p.get("lastError"):
            click.echo(f"  last error: {p['lastError']['message'].splitlines()[0]}")
    for name, errors in (doc.get("rejectedFiles") or {}).items():
        click.echo(f"rejected {name}: {errors[0]['message']}")


def _store_status(store: EtcdStore, output: str) -> None:
    current = store.read()
    history = store.history()
    if output == "json":
        click.echo(
            json.dumps(
                {
                    "current": current.to_json() | {"revision": current.revision} if current else None,
                    "history": [
                        {"seq": h.seq, "version": h.version, "pushedAt": h.pushed_at, "message": h.message}
                        for h in history
                    ],
                },
                indent=2,
            )
        )
        return
    if current is None:
        click.echo(f"nothing pushed under {store.prefix}")
        return
    click.echo(
        f"seq {current.seq}, version {current.version[:12]}, revision {current.revision}: {len(current.files)} file(s)"
    )
    for pid, info in sorted(current.policies.items()):
        click.echo(f"  {pid:40} {info['version'][:12]}  {info['file']}")
    click.echo("history:")
    for h in history:
        pushed = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(h.pushed_at))
        click.echo(f"  #{h.seq:<5} {h.version[:12]}  {pushed}  {h.message}")
