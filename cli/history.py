"""``miljo history``: what was recorded about a student, and when (bitemporal audit).

Reading the history is a read of the case: it is written to the student's access log.
"""

from __future__ import annotations

from datetime import UTC, datetime

import click
import orjson

from cli import render
from cli.params import INSTANT, json_option, student_arguments
from cli.student import student_id
from cli.wiring import CliContext, pass_cli
from domain.facade import HistoryEntry, StudentCase


@click.command("history")
@student_arguments
@click.option(
    "--as-of",
    "as_of",
    type=INSTANT,
    help="Only what was recorded up to this instant (ISO 8601 with offset), and the case "
    "as it stood then.",
)
@click.option("--reason", help="Why you read the history (kept in the access log).")
@json_option
@click.option(
    "--jsonl",
    is_flag=True,
    help="Write the full export, one JSON object per event (docs/history-export.md).",
)
@pass_cli
def history(
    cli: CliContext,
    school: str,
    number: str,
    as_of: datetime | None,
    reason: str | None,
    as_json: bool,
    jsonl: bool,
) -> None:
    """Every recorded event about a student: position, recorded time, effective
    time, who (role), event type and a summary without personal data.

    With --as-of, only what had been recorded by that instant ("what did the school
    know, and when?"), followed by the case as it stood then: class, number of
    observations and concerns, consents, referrals and aktivitetsplaner.

    With --jsonl, the full export with every event's payload (personal data in clear
    text; see docs/history-export.md) as JSON Lines on standard output.

    Every use is written to the student's access log.

    \b
    Example:
      miljo history --school gjesdal 1001
      miljo history --school gjesdal 1001 --as-of 2024-09-09T12:00:00+02:00 --json
      miljo history --school gjesdal 1001 --jsonl --reason "innsyn" > elev-1001.jsonl
    """
    if jsonl and as_json:
        raise click.UsageError("give at most one of --json and --jsonl")
    if jsonl and as_of is not None:
        raise click.UsageError("--jsonl exports the whole history; it cannot take --as-of")
    sid = student_id(cli, school, number, call="export_history" if jsonl else "history")
    if jsonl:
        for record in cli.miljo.export_history(cli.actor, sid, reason=reason):
            click.echo(orjson.dumps(record).decode("utf-8"))
        return
    entries = cli.miljo.history(cli.actor, sid, as_of=as_of, reason=reason)
    state = (
        None
        if as_of is None
        else cli.miljo.student_case_as_of(cli.actor, sid, as_of=as_of, reason=reason)
    )
    if as_json:
        render.emit_json(
            render.HISTORY.build(
                None,
                student_id=sid,
                school_code=school,
                as_of=None if as_of is None else as_of.astimezone(UTC),
                entries=entries,
                state=state,
            )
        )
        return
    upto = "" if as_of is None else f", recorded up to {render.text(as_of)}"
    click.echo(f"History of student {number} at {school}: {len(entries)} events{upto}")
    click.echo(history_table(entries))
    if as_of is not None:
        click.echo(state_text(as_of, state))


def _effective(value: str) -> str:
    """An effective date stays as it is; an effective instant is shown in school time."""
    if "T" not in value:
        return value
    try:
        return render.text(datetime.fromisoformat(value))
    except ValueError:
        return value


def history_table(entries: list[HistoryEntry]) -> str:
    rows = [
        (
            e.position,
            e.recorded_at,
            _effective(e.effective),
            e.actor_id,
            e.actor_role,
            e.event_type,
            e.summary,
        )
        for e in entries
    ]
    return render.table(
        ["position", "recorded", "effective", "actor", "role", "type", "summary"], rows
    )


def state_text(as_of: datetime, case: StudentCase | None) -> str:
    """The case as it was recorded at ``as_of`` (no name or number)."""
    title = f"Case as recorded at {render.text(as_of)}"
    if case is None:
        return render.section(title, "  (the student was not registered yet)")
    summary = render.pairs(
        [
            ("class", f"{case.class_name} (trinn {case.trinn})"),
            ("active", case.is_active),
            ("observations", len(case.observations)),
            ("concerns", len(case.concerns)),
        ]
    )
    consents = [
        (
            c.giver,
            f"{c.scope_kind.value}:{c.scope}",
            c.valid_from,
            c.valid_to,
            c.withdrawn_on,
            c.consent_id,
        )
        for c in case.consents
    ]
    referrals = [
        (r.body, r.made_on, r.status, r.status_changed_on, r.referral_id) for r in case.referrals
    ]
    plans = [(p.responsible, p.evaluation_date, p.closed_on, p.plan_id) for p in case.plans]
    return "\n".join(
        [
            render.section(title, "\n".join("  " + line for line in summary.splitlines())),
            render.section(
                "Consents then",
                render.table(["giver", "scope", "from", "to", "withdrawn", "id"], consents),
            ),
            render.section(
                "Referrals then",
                render.table(["body", "made", "status", "since", "id"], referrals),
            ),
            render.section(
                "Aktivitetsplaner then",
                render.table(["responsible", "evaluate", "closed", "id"], plans),
            ),
        ]
    )
