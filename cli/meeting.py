"""``miljo meeting``: ressursteam, arbeidslag and other meetings, their agenda and minutes.

A meeting is named by its id (printed by ``miljo meeting schedule``). A named student on the
agenda is given by student number at the meeting's school (``--student NUMBER``).
"""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import click

from cli import render
from cli.params import ID, INSTANT, ISO_DATE, choice, json_option, school_option
from cli.student import student_id
from cli.wiring import CliContext, pass_cli
from domain.meeting import AgendaSubject, DecisionOutcome
from domain.values import ExternalBody, MeetingKind, Role

meeting_argument = click.argument("meeting_id", metavar="MEETING-ID", type=ID)


@click.group()
def meeting() -> None:
    """Meetings: schedule, participants, agenda, notes, decisions, minutes.

    \b
    Example:
      miljo meeting schedule --school gjesdal --kind ressursteam --at 2024-09-04T08:00:00+02:00
      miljo meeting item MEETING-ID --subject class --trinn 8 --class 8c --title "Klassemiljø"
      miljo meeting show MEETING-ID
    """


@meeting.command("schedule")
@school_option
@click.option("--kind", type=choice(MeetingKind), required=True, help="The kind of meeting.")
@click.option("--at", "scheduled_at", type=INSTANT, required=True, help="When (with offset).")
@json_option
@pass_cli
def schedule(
    cli: CliContext, school: str, kind: str, scheduled_at: datetime, as_json: bool
) -> None:
    """Schedule a meeting; prints the meeting's id.

    \b
    Example:
      miljo meeting schedule --school gjesdal --kind ressursteam --at 2024-09-04T08:00:00+02:00
    """
    new_id = cli.miljo.schedule_meeting(
        cli.actor, school=school, kind=kind, scheduled_at=scheduled_at
    )
    render.report(as_json, "meeting schedule", f"Scheduled {kind}", new_id=new_id)


@meeting.command("participant")
@meeting_argument
@click.option("--person", "person_id", required=True, help="The participant's person id.")
@click.option("--role", type=choice(Role), required=True, help="The role they take part in.")
@json_option
@pass_cli
def participant(
    cli: CliContext, meeting_id: UUID, person_id: str, role: str, as_json: bool
) -> None:
    """Add a staff participant to a meeting.

    \b
    Example:
      miljo meeting participant MEETING-ID --person p-rektor --role rektor
    """
    cli.miljo.add_participant(cli.actor, meeting_id, person_id=person_id, role=role)
    render.report(as_json, "meeting participant", f"Added {person_id} to meeting {meeting_id}")


@meeting.command("external")
@meeting_argument
@click.option("--body", type=choice(ExternalBody), required=True, help="The external service.")
@json_option
@pass_cli
def external(cli: CliContext, meeting_id: UUID, body: str, as_json: bool) -> None:
    """Add an external service (PPT, barnevern, ...). Named students need consent.

    \b
    Example:
      miljo meeting external MEETING-ID --body barnevern
    """
    cli.miljo.add_external_participant(cli.actor, meeting_id, body=body)
    render.report(as_json, "meeting external", f"Added {body} to meeting {meeting_id}")


@meeting.command("item")
@meeting_argument
@click.option(
    "--subject", "subject_kind", type=choice(AgendaSubject), required=True, help="Subject kind."
)
@click.option("--title", required=True, help="The agenda item's title.")
@click.option("--student", "number", metavar="NUMBER", help="A named student's number.")
@click.option("--anonymous", is_flag=True, help="A student case discussed without a name.")
@click.option("--trinn", type=int, help="The trinn (subject trinn or class).")
@click.option("--class", "class_name", help="The class (subject class).")
@click.option("--concern", "concern_id", type=ID, help="The student's concern discussed.")
@json_option
@pass_cli
def item(
    cli: CliContext,
    meeting_id: UUID,
    subject_kind: str,
    title: str,
    number: str | None,
    anonymous: bool,
    trinn: int | None,
    class_name: str | None,
    concern_id: UUID | None,
    as_json: bool,
) -> None:
    """Add an agenda item about a student, a class, a trinn or a theme; prints its id.

    \b
    Examples:
      miljo meeting item MEETING-ID --subject class --trinn 8 --class 8c --title "Klassemiljø"
      miljo meeting item MEETING-ID --subject student --student 1001 --concern CONCERN-ID \\
        --title "Fravær"
    """
    student: UUID | None = None
    if number is not None:
        # The meeting's school only: reading the meeting itself would log a read of every
        # student it names, for a command that may yet be refused.
        school = cli.miljo.meeting_school(cli.actor, meeting_id)
        student = student_id(cli, school, number, call="add_agenda_item")
    new_id = cli.miljo.add_agenda_item(
        cli.actor,
        meeting_id,
        subject_kind=subject_kind,
        title=title,
        student_id=student,
        anonymous=anonymous,
        trinn=trinn,
        class_name=class_name,
        concern_id=concern_id,
    )
    render.report(as_json, "meeting item", "Added agenda item", new_id=new_id)


@meeting.command("note")
@meeting_argument
@click.option("--item", "item_id", type=ID, required=True, help="The agenda item's id.")
@click.option("--text", required=True, help="The note.")
@json_option
@pass_cli
def note(cli: CliContext, meeting_id: UUID, item_id: UUID, text: str, as_json: bool) -> None:
    """Record a note in the minutes under an agenda item.

    \b
    Example:
      miljo meeting note MEETING-ID --item ITEM-ID --text "Rolig uke i 8c"
    """
    cli.miljo.record_note(cli.actor, meeting_id, item_id=item_id, text=text)
    render.report(as_json, "meeting note", f"Recorded note on item {item_id}")


@meeting.command("decide")
@meeting_argument
@click.option("--item", "item_id", type=ID, required=True, help="The agenda item's id.")
@click.option(
    "--outcome", type=choice(DecisionOutcome), required=True, help="The kind of decision."
)
@click.option("--text", required=True, help="What was decided.")
@click.option("--responsible", help="Who carries out a measure (person id).")
@click.option("--due", type=ISO_DATE, help="When a measure is due.")
@json_option
@pass_cli
def decide(
    cli: CliContext,
    meeting_id: UUID,
    item_id: UUID,
    outcome: str,
    text: str,
    responsible: str | None,
    due: date | None,
    as_json: bool,
) -> None:
    """Record a decision on an agenda item; a measure needs --responsible and --due.

    \b
    Example:
      miljo meeting decide MEETING-ID --item ITEM-ID --outcome measure \\
        --text "Voksen i friminutt" --responsible p-mt1 --due 2024-09-20
    """
    new_id = cli.miljo.record_decision(
        cli.actor,
        meeting_id,
        item_id=item_id,
        outcome=outcome,
        text=text,
        responsible=responsible,
        due=due,
    )
    render.report(as_json, "meeting decide", "Recorded decision", new_id=new_id)


@meeting.command("complete-action")
@meeting_argument
@click.option("--decision", "decision_id", type=ID, required=True, help="The decision's id.")
@click.option("--on", "on", type=ISO_DATE, help="Date completed (default: today).")
@json_option
@pass_cli
def complete_action(
    cli: CliContext, meeting_id: UUID, decision_id: UUID, on: date | None, as_json: bool
) -> None:
    """Record that a measure decided in the meeting was carried out.

    \b
    Example:
      miljo meeting complete-action MEETING-ID --decision DECISION-ID --on 2024-09-19
    """
    cli.miljo.complete_action(cli.actor, meeting_id, decision_id=decision_id, completed_on=on)
    render.report(as_json, "meeting complete-action", f"Completed action {decision_id}")


@meeting.command("held")
@meeting_argument
@click.option("--at", "held_at", type=INSTANT, help="When it was held (default: now).")
@json_option
@pass_cli
def held(cli: CliContext, meeting_id: UUID, held_at: datetime | None, as_json: bool) -> None:
    """Record that the meeting was held (concerns on the agenda become discussed).

    \b
    Example:
      miljo meeting held MEETING-ID --at 2024-09-04T08:00:00+02:00
    """
    cli.miljo.record_meeting_held(cli.actor, meeting_id, held_at=held_at)
    render.report(as_json, "meeting held", f"Recorded meeting {meeting_id} as held")


@meeting.command("close")
@meeting_argument
@json_option
@pass_cli
def close(cli: CliContext, meeting_id: UUID, as_json: bool) -> None:
    """Close the minutes (later changes are amendments).

    \b
    Example:
      miljo meeting close MEETING-ID
    """
    cli.miljo.close_minutes(cli.actor, meeting_id)
    render.report(as_json, "meeting close", f"Closed the minutes of meeting {meeting_id}")


@meeting.command("amend")
@meeting_argument
@click.option("--text", required=True, help="The amendment.")
@click.option("--reason", required=True, help="Why the closed minutes are amended.")
@click.option("--item", "item_id", type=ID, help="The agenda item amended, if one.")
@json_option
@pass_cli
def amend(
    cli: CliContext,
    meeting_id: UUID,
    text: str,
    reason: str,
    item_id: UUID | None,
    as_json: bool,
) -> None:
    """Amend closed minutes; prints the amendment's id.

    \b
    Example:
      miljo meeting amend MEETING-ID --text "PPT var også til stede" --reason "Utelatt"
    """
    new_id = cli.miljo.amend_minutes(
        cli.actor, meeting_id, text=text, reason=reason, item_id=item_id
    )
    render.report(as_json, "meeting amend", "Amended the minutes", new_id=new_id)


@meeting.command("cancel")
@meeting_argument
@click.option("--reason", required=True, help="Why the meeting is cancelled.")
@json_option
@pass_cli
def cancel(cli: CliContext, meeting_id: UUID, reason: str, as_json: bool) -> None:
    """Cancel a meeting that was not held.

    \b
    Example:
      miljo meeting cancel MEETING-ID --reason "Høstferie"
    """
    cli.miljo.cancel_meeting(cli.actor, meeting_id, reason=reason)
    render.report(as_json, "meeting cancel", f"Cancelled meeting {meeting_id}")


@meeting.command("show")
@meeting_argument
@click.option(
    "--reason", help="Why you read the meeting (kept in the named students' access logs)."
)
@json_option
@pass_cli
def show(cli: CliContext, meeting_id: UUID, reason: str | None, as_json: bool) -> None:
    """Show a meeting: participants, agenda, decisions and open actions. Reading a meeting
    that names students is logged in their access logs.

    \b
    Example:
      miljo meeting show MEETING-ID --json
    """
    view = cli.miljo.meeting(cli.actor, meeting_id, reason=reason)
    if as_json:
        render.emit_json(render.MEETING.build(view))
        return
    click.echo(
        render.pairs(
            [
                ("meeting", view.meeting_id),
                ("school", view.school_code),
                ("kind", view.kind),
                ("scheduled", view.scheduled_at),
                ("held", view.held_at),
                ("minutes closed", view.minutes_closed),
                ("cancelled", view.cancelled),
                ("participants", [f"{p.person_id} ({p.role.value})" for p in view.participants]),
                ("external", view.external_bodies),
            ]
        )
    )
    agenda = [
        (
            i.subject_kind,
            _subject(i.trinn, i.class_name, i.student_id, i.anonymous),
            i.title,
            i.item_id,
        )
        for i in view.agenda
    ]
    click.echo(render.section("Agenda", render.table(["subject", "about", "title", "id"], agenda)))
    notes = [(n.item_id, n.recorded_at, n.recorded_by, n.text) for n in view.notes]
    click.echo(render.section("Notes", render.table(["item", "recorded", "by", "note"], notes)))
    decisions = [
        (d.outcome, d.text, d.responsible, d.due, d.completed_on, d.decision_id)
        for d in view.decisions
    ]
    click.echo(
        render.section(
            "Decisions",
            render.table(["outcome", "text", "responsible", "due", "completed", "id"], decisions),
        )
    )
    amendments = [(a.recorded_at, a.recorded_by, a.text, a.reason) for a in view.amendments]
    click.echo(
        render.section(
            "Amendments", render.table(["recorded", "by", "amendment", "reason"], amendments)
        )
    )
    actions = [(a.responsible, a.due, a.text, a.decision_id) for a in view.open_actions]
    click.echo(
        render.section(
            "Open actions", render.table(["responsible", "due", "text", "decision"], actions)
        )
    )


def _subject(trinn: int | None, class_name: str | None, student: UUID | None, anon: bool) -> str:
    if anon:
        return "anonymous student"
    if student is not None:
        return f"student {student}"
    if class_name is not None:
        return f"class {class_name}"
    if trinn is not None:
        return f"trinn {trinn}"
    return "-"
