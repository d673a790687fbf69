"""The ``kubegate`` command: one sub-command per module in this package.

Every error kubegate raises on purpose is printed as ``error: file:line:col:
code: message`` with a source snippet, and exits 2; nothing prints a Python
traceback unless ``KUBEGATE_DEBUG=1`` is set (then unexpected errors re-raise).
"""

from __future__ import annotations

import os
import sys
from importlib import metadata

import click

from kubegate.cli.audit import audit
from kubegate.cli.cert import cert
from kubegate.cli.check import check
from kubegate.cli.dsl import compile_command, lint
from kubegate.cli.eval_cmd import eval_command
from kubegate.cli.expand import expand_command
from kubegate.cli.fmt_cmd import fmt_command
from kubegate.cli.goproxy_cmd import golicense, goproxy
from kubegate.cli.grpc_cmd import grpc_command
from kubegate.cli.image_cmd import image
from kubegate.cli.serve import serve
from kubegate.cli.store import push, rollback, status
from kubegate.cli.test_cmd import rego_test_command
from kubegate.cli.verify import verify
from kubegate.errors import ErrorList, KubegateError

__all__ = ["cli", "main"]

EXIT_ERROR = 2
EXIT_INTERNAL = 3


def _version() -> str:
    try:
        return metadata.version("kubegate")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0+unknown"


class KubegateGroup(click.Group):
    """Turns kubegate's own errors into ``error: ...`` lines and exit status 2."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ErrorList as exc:
            for error in exc.errors:
                click.echo(f"error: {error}", err=True)
            ctx.exit(EXIT_ERROR)
        except KubegateError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(EXIT_ERROR)


@click.group(cls=KubegateGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(_version(), prog_name="kubegate")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """kubegate: policy engine for Kubernetes (Rego, Gatekeeper, typed DSL)."""
    ctx.obj = {"version": _version()}


cli.add_command(check)
cli.add_command(audit)
cli.add_command(verify)
cli.add_command(expand_command)
cli.add_command(serve)
cli.add_command(cert)
cli.add_command(compile_command)
cli.add_command(lint)
cli.add_command(push)
cli.add_command(rollback)
cli.add_command(status)
cli.add_command(eval_command)
cli.add_command(rego_test_command)
cli.add_command(fmt_command)
cli.add_command(image)
cli.add_command(goproxy)
cli.add_command(golicense)
cli.add_command(grpc_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point; never lets a traceback reach the user."""
    try:
        # Without standalone mode click returns a command's exit status instead of exiting.
        status = cli.main(args=argv, prog_name="kubegate", standalone_mode=False)
        sys.exit(status if isinstance(status, int) else 0)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_ERROR if exc.exit_code == 1 else exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_ERROR)
    except ErrorList as exc:
        for error in exc.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    except KubegateError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        if os.environ.get("KUBEGATE_DEBUG") == "1":
            raise
        click.echo(
            f"error: internal_error: {type(exc).__name__}: {exc} (this is a kubegate bug; "
            "set KUBEGATE_DEBUG=1 for a traceback)",
            err=True,
        )
        sys.exit(EXIT_INTERNAL)
