"""The ``miljo`` command: a click group over the embedding facade.

Commands are thin: parse, call the facade (through :class:`cli.wiring.CliContext`), render.
Every failure ends as one stderr line ``miljo: error: <message>`` and a documented exit code
(:mod:`cli.exit_codes`); ``--debug`` adds the traceback.
"""

from __future__ import annotations

import traceback
from typing import Any

import click

from cli.errors import classify
from cli.wiring import CliContext


def _fail(error: BaseException, *, debug: bool) -> int:
    if debug:
        click.echo(
            "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip(),
            err=True,
        )
    failure = classify(error)
    click.echo(failure.line(), err=True)
    return failure.exit_code


#: Left to click: exits (--help, --version), help shown for a bare group, closed pipes.
PASS_THROUGH = (click.exceptions.Exit, click.exceptions.NoArgsIsHelpError, BrokenPipeError)


class MiljoGroup(click.Group):
    """The top-level group: turns every error into one line and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PASS_THROUGH:
            raise
        except Exception as error:
            obj = ctx.find_object(CliContext)
            debug = obj.debug if obj is not None else False
            raise click.exceptions.Exit(_fail(error, debug=debug)) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Usage errors in the global options; a subcommand's are caught by invoke().
        try:
            return super().parse_args(ctx, args)
        except PASS_THROUGH:
            raise
        except click.ClickException as error:
            raise click.exceptions.Exit(_fail(error, debug=False)) from None


@click.group("miljo", cls=MiljoGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--store",
    metavar="PATH",
    envvar="MILJO_STORE",
    help="The store file (or :memory:). Default: $MILJO_HOME/miljo.sqlite.",
)
@click.option(
    "--as",
    "actor",
    metavar="ROLE:PERSON-ID[@SCHOOL,...]",
    envvar="MILJO_ACTOR",
    help=(
        "Who acts, and for which schools: e.g. miljokoordinator:p-17@gjesdal. Every role "
        "but admin and auditor needs @SCHOOL (env MILJO_ACTOR)."
    ),
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="MILJO_DEBUG",
    help="Show the traceback of an error (the exit code stays the same).",
)
@click.version_option(package_name="miljo", prog_name="miljo")
@click.pass_context
def cli(ctx: click.Context, store: str | None, actor: str | None, debug: bool) -> None:
    """Case and resource records for schools with miljøterapeuter.

    Every command acts as a person in a role at their schools, on one store
    (--store PATH, default $MILJO_HOME/miljo.sqlite). Students are named by school
    and student number (--school CODE NUMBER). Read commands take --json.

    \b
    Who acts (--as, or MILJO_ACTOR):
      ROLE:PERSON-ID@SCHOOL[,SCHOOL...]   e.g. miljokoordinator:p-17@gjesdal
      admin:PERSON-ID, auditor:PERSON-ID  (they act for every school)

    \b
    Example:
      export MILJO_HOME=~/miljo MILJO_ACTOR=admin:p-admin
      miljo store init
      miljo school register gjesdal --name "Gjesdal ungdomsskole" --trinn 8-10
      miljo --as rektor:p-3@gjesdal student show --school gjesdal 1001 --json
    """
    context = CliContext(store=store, actor_text=actor, debug=debug)
    ctx.obj = context
    ctx.call_on_close(context.close)


def _register_commands() -> None:
    from cli.audit import audit
    from cli.demo import demo
    from cli.history import history
    from cli.meeting import meeting
    from cli.overview import overview
    from cli.roster import import_group
    from cli.school import school
    from cli.store import store
    from cli.student import student
    from cli.team import team
    from cli.vedtak import vedtak

    for command in (
        store,
        school,
        student,
        vedtak,
        team,
        meeting,
        import_group,
        overview,
        history,
        audit,
        demo,
    ):
        cli.add_command(command)


_register_commands()


def main() -> None:
    """The console script ``miljo``."""
    cli.main(prog_name="miljo")
