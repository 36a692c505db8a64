"""``miljo school``: register schools, add classes, show a school."""

from __future__ import annotations

import re
from typing import Any

import click

from cli import render
from cli.params import bad, json_option
from cli.wiring import CliContext, pass_cli

_TRINN_RANGE = re.compile(r"^\s*(\d{1,2})\s*(?:-\s*(\d{1,2})\s*)?$")


class TrinnRange(click.ParamType[tuple[int, int]]):
    """``8-10`` (or ``5`` for one trinn)."""

    name = "FIRST-LAST"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, int]:
        if isinstance(value, tuple):
            return value
        match = _TRINN_RANGE.match(str(value))
        if match is None:
            raise bad(f"{value!r} is not a trinn range like 8-10", param, ctx)
        first = int(match.group(1))
        return first, int(match.group(2) or first)


@click.group()
def school() -> None:
    """Schools and their classes.

    \b
    Example:
      miljo school register gjesdal --name "Gjesdal ungdomsskole" --trinn 8-10
      miljo school add-class gjesdal 8c --trinn 8
      miljo school show gjesdal
    """


@school.command("register")
@click.argument("code")
@click.option("--name", required=True, help="The school's full name.")
@click.option(
    "--trinn",
    "trinn_range",
    type=TrinnRange(),
    required=True,
    help="The school's trinn, FIRST-LAST (1-13; Vg1-Vg3 are 11-13).",
)
@json_option
@pass_cli
def register(
    cli: CliContext, code: str, name: str, trinn_range: tuple[int, int], as_json: bool
) -> None:
    """Register a school under a short CODE (a-z, 0-9, '-').

    \b
    Example:
      miljo school register trudvang --name "Trudvang skule" --trinn 1-5
    """
    first, last = trinn_range
    school_id = cli.miljo.register_school(
        cli.actor, code=code, name=name, first_trinn=first, last_trinn=last
    )
    render.report(as_json, "school register", f"Registered school {code}", new_id=school_id)


@school.command("add-class")
@click.argument("code")
@click.argument("class_name", metavar="CLASS")
@click.option("--trinn", type=int, required=True, help="The class's trinn.")
@json_option
@pass_cli
def add_class(cli: CliContext, code: str, class_name: str, trinn: int, as_json: bool) -> None:
    """Add a CLASS, such as 8c, in a trinn to the school CODE.

    \b
    Example:
      miljo school add-class gjesdal 8c --trinn 8
    """
    cli.miljo.add_class(cli.actor, school=code, trinn=trinn, class_name=class_name)
    render.report(
        as_json, "school add-class", f"Added class {class_name} (trinn {trinn}) to {code}"
    )


@school.command("show")
@click.argument("code")
@json_option
@pass_cli
def show(cli: CliContext, code: str, as_json: bool) -> None:
    """Show a school, its classes and how many students are active.

    \b
    Example:
      miljo school show gjesdal --json
    """
    view = cli.miljo.school(cli.actor, code)
    if as_json:
        ids = sorted(cli.miljo.students_of(cli.actor, code), key=str)
        render.emit_json(render.SCHOOL.build(view, active_student_ids=ids))
        return
    click.echo(
        render.pairs(
            [
                ("school", f"{view.code} ({view.name})"),
                ("trinn", f"{view.first_trinn}-{view.last_trinn}"),
                ("active students", view.active_students),
                ("id", view.school_id),
            ]
        )
    )
    rows = sorted(((trinn, name) for name, trinn in view.classes.items()))
    click.echo(render.section("Classes", render.table(["trinn", "class"], rows)))
