"""``miljo import``: bring data from other systems (a school's roster as CSV)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from adapters.roster import RosterPlan, RosterReport, RosterRow, authorize_import, plan_import
from adapters.roster import apply_import as apply_roster
from cli import render
from cli.params import json_option, school_option
from cli.wiring import CliContext, pass_cli


@click.group("import")
def import_group() -> None:
    """Import data from other systems.

    \b
    Example:
      miljo import roster elever-2024.csv --school gjesdal
    """


@import_group.command("roster")
@click.argument(
    "file",
    # Not checked by click (exists, readable): the role and school are checked first, so
    # a refused caller learns nothing of the file; a file that cannot be read is exit 2.
    type=click.Path(path_type=Path),
)
@school_option
@json_option
@pass_cli
def roster(cli: CliContext, file: Path, school: str, as_json: bool) -> None:
    """Register a school's students from a CSV roster (safe to run again).

    The file is UTF-8 CSV with the header student_number,name,trinn,class. Every
    row is checked first: if any row is bad, nothing is imported and every problem
    is listed by line number (exit code 2), as is a file that cannot be read.
    Students whose number is already registered are skipped and counted. A role
    that may not register students, or a school outside the acting person's
    schools, is refused (exit code 6) before the file is looked at.

    \b
    Example:
      miljo import roster elever-2024.csv --school gjesdal
    with elever-2024.csv:
      student_number,name,trinn,class
      1001,Kari Testesen,8,8c
      1002,Åse Nordmæla,8,8c
    """
    # Refused before the file is read or the store is opened (same refusal as the facade's).
    authorize_import(cli.actor, school)
    try:
        data = file.read_bytes()
    except OSError as error:
        # A usage error (exit 2), as click's own check of the path would have been.
        raise click.BadParameter(
            f"cannot read {click.format_filename(file)}: {error.strerror or error}",
            param_hint="'FILE'",
        ) from None
    plan = plan_import(cli.miljo, cli.actor, school=school, data=data, source=file.name)
    report = _apply(cli, plan)
    if as_json:
        render.emit_json(render.IMPORT_REPORT.build(report, action="import roster"))
        return
    click.echo(
        f"Imported roster for {report.school_code}: {report.registered} registered, "
        f"{report.already_present} already present ({report.rows} rows)"
    )


def stderr_is_terminal() -> bool:
    """Progress is shown only to a person watching a terminal, never into a pipe or file."""
    return sys.stderr.isatty()


def _apply(cli: CliContext, plan: RosterPlan) -> RosterReport:
    """Register the new rows, with a progress bar when stderr is a terminal."""
    if not plan.new or not stderr_is_terminal():
        return apply_roster(cli.miljo, cli.actor, plan)
    with click.progressbar(
        length=len(plan.new), label="Registering students", file=sys.stderr
    ) as bar:

        def step(_: RosterRow) -> None:
            bar.update(1)

        return apply_roster(cli.miljo, cli.actor, plan, on_row=step)
