"""``miljo audit``: what the privacy officer and the person concerned may see about reads."""

from __future__ import annotations

import click

from cli import render
from cli.params import json_option, student_arguments
from cli.student import student_id
from cli.wiring import CliContext, pass_cli


@click.group()
def audit() -> None:
    """Audit: who read a student's case (the innsynslogg).

    \b
    Example:
      miljo --as auditor:p-pvo audit access --school gjesdal 1001
    """


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
    sid = student_id(cli, school, number)
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
