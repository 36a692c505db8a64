"""``miljo audit``: what the privacy officer and the person concerned may see about reads."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from adapters.audit import StoreVerifyResult, export_store, verify_store
from cli import exit_codes, render
from cli.params import json_option, student_arguments
from cli.store import require
from cli.student import student_id
from cli.wiring import CliContext, pass_cli
from domain.policy import Operation

R = TypeVar("R")


@click.group()
def audit() -> None:
    """Audit: who read a student's case (the innsynslogg), and whether the store is
    intact (the hash chain).

    \b
    Example:
      miljo --as auditor:p-pvo audit access --school gjesdal 1001
      miljo --as auditor:p-pvo audit verify
    """


#: ``audit verify --json`` (documented in docs/cli.md by cli.docgen).
AUDIT_VERIFY = render.Schema(
    "audit verify",
    (
        render.Field(
            "ok",
            render.BOOL_T + " (the whole chain and every snapshot verified; exit code 8 if not)",
        ),
        render.Field("checked", render.INT_T + " (events verified before any failure)"),
        render.Field(
            "head_position", render.INT_T + " (position of the last event verified; 0: none)"
        ),
        render.Field(
            "head_link",
            render.STR_T + " (64 hex digits: the chain link at head_position; keep it)",
            get=lambda result: result.head_link.hex(),
        ),
        render.Field(
            "first_failure", render.nullable(render.INT_T) + " (the first position that fails)"
        ),
        render.Field("reason", render.nullable(render.STR_T) + " (why it fails)"),
        render.Field("snapshots_checked", render.INT_T + " (stored snapshots verified)"),
        render.Field(
            "snapshots_unbound",
            render.INT_T + " (snapshots written before snapshots were bound: never loaded)",
        ),
        render.Field("snapshots_failed", render.INT_T + " (snapshots that do not match their row)"),
        render.Field(
            "snapshot_failure",
            render.nullable(render.STR_T) + " (the first snapshot that fails, and why)",
        ),
    ),
)

#: ``audit export --json``.
AUDIT_EXPORT = render.Schema(
    "audit export",
    (
        render.Field("file", render.STR_T + " (the export written)", given=True),
        render.Field("events", render.INT_T + " (events exported)"),
        render.Field("head_position", render.INT_T + " (position of the chain head)"),
        render.Field("head_link", render.STR_T + " (64 hex digits: the chain head's link)"),
    ),
)


@audit.command("verify")
@json_option
@pass_cli
def verify(cli: CliContext, as_json: bool) -> None:
    """Recompute the keyed hash chain over every stored event and name the first position
    that fails, then check that every stored snapshot is bound to its row. Needs only the
    sealing key: nothing is decrypted. Exit code 8 when the chain is broken (a changed,
    deleted, moved or inserted row) or a snapshot was moved, copied, swapped or changed.

    \b
    Example:
      miljo --as auditor:p-pvo audit verify
      miljo --as auditor:p-pvo audit verify --json
    """
    require(cli, Operation.VERIFY_STORE)
    result = _with_progress("Verifying", lambda step: verify_store(cli.location, step))
    if as_json:
        render.emit_json(AUDIT_VERIFY.build(result))
    elif result.first_failure is None:
        click.echo(
            f"Chain intact: {result.checked} events verified; "
            f"head {result.head_position} {result.head_link.hex()}"
        )
    else:
        click.echo(
            f"Chain BROKEN at position {result.first_failure}: {result.reason} "
            f"({result.checked} events verified before it)"
        )
    if not as_json:
        click.echo(_snapshots_line(result))
    if not result.ok:
        raise SystemExit(exit_codes.VERIFY_FAILED)


def _snapshots_line(result: StoreVerifyResult) -> str:
    unbound = (
        f"; {result.snapshots_unbound} written before snapshots were bound (never loaded)"
        if result.snapshots_unbound
        else ""
    )
    if result.snapshot_failure is None:
        return f"Snapshots intact: {result.snapshots_checked} verified{unbound}"
    return (
        f"Snapshots BROKEN: {result.snapshots_failed} fail, the first: "
        f"{result.snapshot_failure} ({result.snapshots_checked} verified{unbound})"
    )


@audit.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@pass_cli
def export(cli: CliContext, file: Path, as_json: bool) -> None:
    """Write every stored event (encrypted payload), its chain link and the chain head to
    FILE as JSON Lines (docs/audit-export.md), for an auditor who verifies with the
    sealing key and tools/verify_export.py, independently of miljo. Refuses to overwrite.

    \b
    Example:
      miljo --as auditor:p-pvo audit export gjesdal-2024-12.jsonl
      python3 tools/verify_export.py gjesdal-2024-12.jsonl ~/miljo/miljo.keys/sealing.key
    """
    require(cli, Operation.VERIFY_STORE)
    summary = _with_progress("Exporting", lambda step: export_store(cli.location, file, step))
    if as_json:
        render.emit_json(AUDIT_EXPORT.build(summary, file=str(file)))
    else:
        click.echo(
            f"Exported {summary.events} events to {file}; "
            f"chain head {summary.head_position} {summary.head_link}"
        )


def _with_progress(label: str, work: Callable[[Callable[[int, int], None] | None], R]) -> R:
    if not sys.stderr.isatty():
        return work(None)
    with click.progressbar(length=1, label=label, file=sys.stderr) as bar:

        def step(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        return work(step)


@audit.command("access")
@student_arguments
@json_option
@pass_cli
def access(cli: CliContext, school: str, number: str, as_json: bool) -> None:
    """Every read of a student's case: when, who, in which role, what was read (case,
    history, vedtak), whether it was a break-glass read, and the reason given. For
    the privacy officer (auditor) and the rektor.

    \b
    Example:
      miljo --as auditor:p-pvo audit access --school gjesdal 1001 --json
    """
    sid = student_id(cli, school, number, call="access_log")
    reads = cli.miljo.access_log(cli.actor, sid)
    if as_json:
        render.emit_json(
            render.ACCESS_LOG.build(None, student_id=sid, school_code=school, reads=reads)
        )
        return
    click.echo(f"Reads of the case of student {number} at {school}: {len(reads)}")
    click.echo(
        render.table(
            ["when", "who", "role", "what", "break-glass", "reason"],
            [
                (r.read_at, r.reader_id, r.reader_role, r.what, r.break_glass, r.reason)
                for r in reads
            ],
        )
    )
