"""``kubegate audit query`` and ``kubegate audit replay``: read the decision log back.

Also the decision-log options that ``serve`` and ``check`` share
(:func:`decision_log_options`, :func:`log_settings`). See ``docs/audit.md``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import click

from kubegate.audit.logger import LogSettings
from kubegate.audit.query import LogQuery, RecordFilter, parse_time
from kubegate.audit.replay import ReplayReport, replay
from kubegate.cli.inputs import load_parameters
from kubegate.cli.options import backend_option
from kubegate.dsl.schema import DEFAULT_KUBERNETES_VERSION
from kubegate.engine.engine import Engine
from kubegate.errors import UsageError
from kubegate.policy.documents import iter_input_files, load_file

__all__ = ["audit", "decision_log_options", "log_settings"]

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_CHANGED, EXIT_ERROR = 0, 1, 2
_SIZE_UNITS = {"": 1, "k": 1024, "ki": 1024, "m": 1024**2, "mi": 1024**2, "g": 1024**3, "gi": 1024**3}


def parse_size(text: str) -> int:
    """``512Mi``, ``2G``, ``1048576`` -> bytes (binary units).

    Raises:
        UsageError: ``invalid_size``.
    """
    digits = text.strip().rstrip("bB")
    number = digits.rstrip("kKmMgGiI")
    unit = digits[len(number) :].lower()
    if not number.isdigit() or unit not in _SIZE_UNITS:
        raise UsageError(f"{text!r} is not a size like 512Mi or 2G", code="invalid_size")
    return int(number) * _SIZE_UNITS[unit]


def decision_log_options(f: F) -> F:
    """The ``--decision-log*`` options (``serve`` has them all; see :func:`log_settings`)."""
    options = [
        click.option(
            "--decision-log", "decision_log", type=click.Path(file_okay=False), help="Decision log directory."
        ),
        click.option(
            "--decision-log-mode",
            type=click.Choice(["strict", "standard", "off"]),
            default="standard",
            show_default=True,
            help="strict: full input (redacted); standard: identity and decision only.",
        ),
        click.option(
            "--decision-log-fsync",
            type=click.Choice(["always", "interval", "never"]),
            default="interval",
            show_default=True,
            help="always: each record is on disk before the answer; interval: every --decision-log-fsync-interval.",
        ),
        click.option(
            "--decision-log-fsync-interval",
            default=100,
            show_default=True,
            type=click.IntRange(min=1),
            help="Milliseconds between fsyncs (interval).",
        ),
        click.option(
            "--decision-log-max-bytes", default="1Gi", show_default=True, help="Bound of the log (512Mi, 2Gi...)."
        ),
        click.option(
            "--decision-log-full-policy",
            type=click.Choice(["block", "drop_oldest", "fail_closed"]),
            default="block",
            show_default=True,
            help="At the bound while sinks lag: wait for them, drop the oldest unshipped records, or deny.",
        ),
        click.option(
            "--decision-log-sink",
            "decision_log_sinks",
            multiple=True,
            help="Ship records to file:PATH, http(s)://HOST/logs[#format=...] or kafka:HOST:PORT/TOPIC (repeatable).",
        ),
        click.option("--redaction-config", type=click.Path(dir_okay=False), help="Mask rules and detectors (YAML)."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def log_settings(
    directory: str | None,
    mode: str,
    fsync: str = "interval",
    fsync_interval_ms: int = 100,
    max_bytes: str = "1Gi",
    full_policy: str = "block",
    path: str = "kubegate/review",
) -> LogSettings | None:
    """The settings the options describe (``None`` without ``--decision-log``, or with mode ``off``).

    Raises:
        UsageError: an invalid combination.
    """
    if directory is None or mode == "off":
        return None
    bound = parse_size(max_bytes)
    settings = LogSettings(
        directory=directory,
        mode=mode,  # type: ignore[arg-type]  # click.Choice checked it
        fsync=fsync,  # type: ignore[arg-type]
        fsync_interval_ms=fsync_interval_ms,
        segment_bytes=min(16 * 1024 * 1024, max(bound // 4, 64 * 1024)),
        max_bytes=bound,
        full_policy=full_policy,  # type: ignore[arg-type]
        path=path,
    )
    settings.check()
    return settings


@click.group("audit")
def audit() -> None:
    """Query the decision log, or replay it against candidate policies."""


def _filter(since: str | None, until: str | None, **rest: Any) -> RecordFilter:
    return RecordFilter(since=parse_time(since) if since else None, until=parse_time(until) if until else None, **rest)


def _problems(query: LogQuery) -> None:
    for line in query.problems():
        click.echo(f"warning: {query.directory}: {line}", err=True)


def _row(record: dict[str, Any]) -> str:
    kg = record.get("kubegate") or {}
    result = record.get("result") or {}
    denied = sorted({str(v.get("policy")) for v in result.get("violations") or [] if v.get("enforcement") == "deny"})
    where = f"{kg.get('namespace')}/{kg.get('name')}" if kg.get("namespace") else str(kg.get("name", ""))
    cache = "hit" if kg.get("cacheHit") else ""
    reason = kg.get("reason") or ""
    return (
        f"{str(record.get('timestamp', ''))[:23]:23} {'allow' if result.get('allowed') else 'deny':8} "
        f"{str(kg.get('operation', ''))[:7]:7} {str(kg.get('kind', ''))[:18]:18} {where[:40]:40} "
        f"{cache:5} {','.join(denied) or reason}"
    )


@audit.command("query")
@click.option("--log", "log_dir", required=True, type=click.Path(), help="Decision log directory.")
@click.option("--since", help="RFC 3339 time or a duration back from now (90m, 2h, 7d).")
@click.option("--until", help="RFC 3339 time or a duration back from now.")
@click.option("--decision", type=click.Choice(["allow", "deny"]), help="Only allowed or only denied requests.")
@click.option("--policy", help="Only decisions this policy took part in.")
@click.option("--namespace", help="Only requests in this namespace.")
@click.option("--uid", help="Only the request with this uid.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many (the newest).")
@click.option("--output", "-o", type=click.Choice(["table", "json", "jsonl"]), default="table", show_default=True)
def query(
    log_dir: str,
    since: str | None,
    until: str | None,
    decision: str | None,
    policy: str | None,
    namespace: str | None,
    uid: str | None,
    limit: int | None,
    output: str,
) -> None:
    """List recorded decisions (oldest first), as a table or JSON."""
    where = _filter(since, until, decision=decision, policy=policy, namespace=namespace, uid=uid)
    log = LogQuery(log_dir)
    records = list(log.records(where))
    if limit is not None:
        records = records[-limit:]
    if output == "json":
        click.echo(json.dumps(records, indent=2, ensure_ascii=False))
    elif output == "jsonl":
        for record in records:
            click.echo(json.dumps(record, ensure_ascii=False))
    else:
        click.echo(f"{'TIME':23} {'DECISION':8} {'OP':7} {'KIND':18} {'NAMESPACE/NAME':40} {'CACHE':5} DENIED BY")
        for record in records:
            click.echo(_row(record))
        click.echo(f"{len(records)} decision(s)", err=True)
    _problems(log)


def _inventory(paths: Iterable[str]) -> list[dict[str, Any]]:
    return [d.obj for f in iter_input_files(tuple(paths)) for d in load_file(f)]


def _render_replay(report: ReplayReport, examples: int) -> None:
    click.echo(
        f"replayed {report.replayed} of {report.records} recorded decision(s) against policy set "
        f"{report.candidate_version[:12]}"
    )
    if report.no_input:
        click.echo(f"  {report.no_input} standard-mode record(s) have no input and were not replayed")
    if report.undecided:
        click.echo(f"  {report.undecided} record(s) were answered without policies (deny list, time-out...)")
    if report.redacted:
        click.echo(f"  {report.redacted} replayed input(s) had redacted values (policies saw the replacement text)")
    shown = [p for _, p in sorted(report.policies.items()) if p.evaluated or p.changed]
    width = max([len("POLICY"), *(len(p.policy) for p in shown)])
    click.echo(f"{'POLICY':{width}} {'EVALUATED':>9} {'ALLOW→DENY':>10} {'DENY→ALLOW':>10} {'ERRORS':>6}")
    for p in shown:
        click.echo(
            f"{p.policy:{width}} {p.evaluated:9} {len(p.allow_to_deny):10} {len(p.deny_to_allow):10} {len(p.errors):6}"
        )
    click.echo(
        f"requests whose decision would change: {report.decisions_allow_to_deny} allow→deny, "
        f"{report.decisions_deny_to_allow} deny→allow"
    )
    for _, p in sorted(report.policies.items()):
        for change in (p.allow_to_deny + p.deny_to_allow + p.errors)[:examples]:
            where = f"{change.namespace}/{change.name}" if change.namespace else change.name
            message = change.messages[0] if change.messages else ""
            click.echo(
                f"  {change.before}→{change.after:5} {p.policy}  {change.kind} {where}  "
                f"{change.timestamp[:19]}  {change.decision_id[:8]}  {message}"
            )


@audit.command("replay")
@click.option("--log", "log_dir", required=True, type=click.Path(), help="Decision log directory.")
@click.option(
    "--policies", "-p", "policy_dirs", multiple=True, required=True, type=click.Path(), help="Candidate policies."
)
@click.option("--no-builtin", is_flag=True, help="The candidate set is only --policies (no built-in library).")
@click.option("--parameters", "parameters_file", type=click.Path(), help="YAML: policy id -> parameters.")
@click.option("--inventory", multiple=True, type=click.Path(), help="Objects for data.inventory (repeatable).")
@click.option("--since", help="RFC 3339 time or a duration back from now (90m, 2h, 7d).")
@click.option("--until", help="RFC 3339 time or a duration back from now.")
@click.option("--examples", default=5, show_default=True, type=click.IntRange(min=0), help="Changes shown per policy.")
@click.option(
    "--kubernetes-version",
    default=DEFAULT_KUBERNETES_VERSION,
    show_default=True,
    help="Kubernetes API version DSL rules are checked against.",
)
@click.option("--output", "-o", type=click.Choice(["text", "json"]), default="text", show_default=True)
@backend_option
@click.pass_context
def replay_command(
    ctx: click.Context,
    log_dir: str,
    policy_dirs: tuple[str, ...],
    no_builtin: bool,
    parameters_file: str | None,
    inventory: tuple[str, ...],
    since: str | None,
    until: str | None,
    examples: int,
    kubernetes_version: str,
    output: str,
    backend: str,
) -> None:
    """Re-evaluate recorded strict-mode inputs against candidate policies; report, per
    policy, the past decisions that would change.

    Exit status: 0 nothing would change, 1 some decisions would change,
    2 bad input or candidate policies that could not be loaded.
    """
    log = LogQuery(log_dir)
    where = _filter(since, until)
    engine = Engine(
        policy_dirs,
        builtin=not no_builtin,
        parameters=load_parameters(parameters_file),
        inventory=_inventory(inventory),
        kubernetes_version=kubernetes_version,
        backend=backend,
    )
    try:
        report = replay(log.records(where), engine)
    finally:
        engine.close()
    if output == "json":
        click.echo(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        _render_replay(report, examples)
    _problems(log)
    for decision_id, problem in report.invalid:
        click.echo(f"error: record {decision_id}: {problem}", err=True)
    for error in engine.errors:
        click.echo(f"error: {error}", err=True)
    if engine.errors or report.invalid:
        ctx.exit(EXIT_ERROR)
    ctx.exit(EXIT_CHANGED if report.changed else EXIT_OK)


replay_command.name = "replay"
