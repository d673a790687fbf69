"""``kubegate image verify``: verify container image signatures against a trust policy file.

Exit status: 0 when every image verified (or failed a ``required: false``
policy, which only records), 1 when one did not, 2 for a usage or
configuration error (a malformed trust policy file, an image reference
outside the grammar, a policy name the file does not have). See
docs/images.md.
"""

from __future__ import annotations

import json
import time

import click

from kubegate.errors import KubegateError
from kubegate.images import Verification, Verifier, load_trust_policy

__all__ = ["image"]

EXIT_NOT_VERIFIED = 1
EXIT_ERROR = 2
_CONFIG_REASONS = frozenset({"invalid_reference", "unknown_policy"})


def _text(result: Verification) -> str:
    where = f"{result.image}@{result.digest}" if result.digest and "@" not in result.image else result.image
    if result.verified:
        head = f"verified  {where}  by {result.attestor}"
    else:
        head = f"{'FAILED' if result.required else 'recorded'}  {where}  {result.reason}"
    cached = ", cached" if result.cached else ""
    tail = f"  (policy {result.policy}{cached}, {result.duration_ms:.0f} ms)" if result.policy else ""
    return f"{head}{tail}\n  {result.message}"


@click.group("image")
def image() -> None:
    """Container image signatures (cosign keys, Sigstore bundles)."""


@image.command("verify")
@click.argument("images", nargs=-1, required=True)
@click.option("--policy", "policy_file", required=True, metavar="FILE", help="The trust policy file (docs/images.md).")
@click.option(
    "--name", "policy_name", metavar="NAME", help="The policy to apply (default: the first whose images match)."
)
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--timeout-ms",
    type=click.IntRange(1, 600_000),
    default=10_000,
    show_default=True,
    help="Time limit of the whole run.",
)
@click.pass_context
def verify_command(
    ctx: click.Context, images: tuple[str, ...], policy_file: str, policy_name: str | None, output: str, timeout_ms: int
) -> None:
    """Verify the signatures of IMAGES against the trust policy in FILE."""
    try:
        trust_policy = load_trust_policy(policy_file)
    except KubegateError as exc:
        click.echo(f"error: {exc}", err=True)
        ctx.exit(EXIT_ERROR)
    verifier = Verifier(trust_policy)
    try:
        results = verifier.verify_many(list(images), policy_name, deadline=time.monotonic() + timeout_ms / 1000.0)
    finally:
        verifier.close()
    if output == "json":
        document = {"trustPolicyVersion": trust_policy.version, "results": [r.to_dict() for r in results]}
        click.echo(json.dumps(document, indent=2))
    else:
        for result in results:
            click.echo(_text(result))
    if any(r.reason in _CONFIG_REASONS for r in results):
        if output == "text":
            for result in results:
                if result.reason in _CONFIG_REASONS:
                    click.echo(f"error: {result.message}", err=True)
        ctx.exit(EXIT_ERROR)
    ctx.exit(0 if all(r.verified or not r.required for r in results) else EXIT_NOT_VERIFIED)
