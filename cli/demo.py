"""``miljo demo``: build the seed's three schools over one autumn term in a fresh store."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

import click

from adapters.bootstrap import StoreError, StoreLocation, init_store, open_store
from adapters.demo import DemoSummary, SeededIds, SimulatedClock, build_demo
from cli import render
from cli.overview import render_overview
from cli.params import json_option
from cli.wiring import CliContext, pass_cli
from domain.facade import Miljo

#: A file beside a store made by ``miljo demo``; only such a store may be replaced.
DEMO_MARKER_SUFFIX = ".demo"


def _marker(location: StoreLocation) -> Path | None:
    if location.db_path is None:
        return None
    return location.db_path.with_name(location.db_path.name + DEMO_MARKER_SUFFIX)


def _remove_demo_store(location: StoreLocation) -> None:
    """Delete a store that ``miljo demo`` made (refuses any other store)."""
    marker = _marker(location)
    if location.db_path is None or location.keys_dir is None or marker is None:
        return
    if not location.db_path.exists() and not location.keys_dir.exists():
        return
    if not marker.exists():
        raise StoreError(
            f"store {location.db_path} exists and was not made by 'miljo demo'; "
            "refusing to replace it (choose another --store or MILJO_HOME)"
        )
    for suffix in ("", "-wal", "-shm"):
        Path(f"{location.db_path}{suffix}").unlink(missing_ok=True)
    shutil.rmtree(location.keys_dir, ignore_errors=True)
    marker.unlink()


#: ``demo --json`` (documented in docs/cli.md by cli.docgen; tests/cli check the keys).
DEMO = render.Schema(
    "demo",
    (
        render.Field("store", render.STR_T + " (the store built)"),
        render.Field("seed", render.INT_T),
        render.Field("schools", render.INT_T),
        render.Field("students", render.INT_T + " (registered during the term)"),
        render.Field("events", render.INT_T + " (events in the store afterwards)"),
        render.Field("first_day", render.DATE_T + " (of the term played)"),
        render.Field("last_day", render.DATE_T),
        render.Field("seconds", "number (time taken to build, not deterministic)"),
        render.Field(
            "overview",
            "object (the overview document of --school on last_day, as overview --json)",
        ),
    ),
)


@click.command("demo")
@click.option("--seed", default=2024, show_default=True, help="Seed of the generated data.")
@click.option(
    "--replace",
    is_flag=True,
    help="Replace an existing store that an earlier 'miljo demo' made (never another store).",
)
@click.option(
    "--school",
    "show",
    default="gjesdal",
    show_default=True,
    type=click.Choice(["trudvang", "gjesdal", "strinda"]),
    help="Whose ressursteam overview to print at the end.",
)
@json_option
@pass_cli
def demo(cli: CliContext, seed: int, replace: bool, show: str, as_json: bool) -> None:
    """Build the three schools of the report (Trudvang skule 1-5, Gjesdal ungdomsskole
    8-10, Strinda vgs) with their staffing and meeting rhythms, play an autumn term of
    vedtak, assignments, observations, consents, referrals, meetings and an
    aktivitetsplan (deterministic from --seed, invented pseudonymous students only), and
    print the ressursteam overview of one school.

    The store must not exist yet (or be an earlier demo store, with --replace).

    \b
    Example:
      MILJO_HOME=/tmp/miljo-demo miljo demo
      miljo --store /tmp/demo.sqlite demo --seed 7 --school trudvang --replace
    """
    location = cli.location
    if replace:
        _remove_demo_store(location)
    marker = _marker(location)
    if marker is not None:  # a file store (":memory:" needs no set-up)
        init_store(location)
        marker.write_text(f"made by 'miljo demo --seed {seed}'\n", encoding="utf-8")
    clock = SimulatedClock()
    miljo = open_store(location, clock=clock, ids=SeededIds(seed))
    try:
        started = time.perf_counter()
        summary = _build(miljo, seed, clock)
        elapsed = time.perf_counter() - started
        school = summary.school(show)
        view = miljo.overview(school.coordinator, school=show, on=summary.last_day)
    finally:
        miljo.close()
    if as_json:
        render.emit_json(
            {
                "store": location.describe(),
                "seed": seed,
                "schools": summary.schools,
                "students": summary.students,
                "events": summary.events,
                "first_day": summary.first_day.isoformat(),
                "last_day": summary.last_day.isoformat(),
                "seconds": round(elapsed, 2),
                "overview": render.OVERVIEW.build(view),
            }
        )
        return
    click.echo(
        f"Built {summary.schools} schools, {summary.students} students and "
        f"{summary.events} events ({summary.first_day} to {summary.last_day}) "
        f"in {elapsed:.1f} s, in {location.describe()}."
    )
    for s in summary.per_school:
        click.echo(
            f"  {s.code:9} {s.name}: {s.students} students, {s.classes} classes, "
            f"{s.team_members} in the team"
        )
    click.echo("")
    click.echo(f"Ressursteam overview of {school.name} on {summary.last_day}:")
    click.echo(render_overview(view))


def _build(miljo: Miljo, seed: int, clock: SimulatedClock) -> DemoSummary:
    """Run the generator, with a progress bar on a terminal and quiet when piped."""
    if not sys.stderr.isatty():
        return build_demo(miljo, seed=seed, clock=clock)
    with click.progressbar(length=1, label="Playing the autumn term", file=sys.stderr) as bar:

        def step(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - bar.pos)

        return build_demo(miljo, seed=seed, clock=clock, progress=step)
