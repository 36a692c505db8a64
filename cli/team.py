"""``miljo team``: the school's miljø team, its members and their weekly assignments.

Weekly hours are given in hours (``--hours 7.5``) and stored as exact minutes.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from uuid import UUID

import click

from cli import render
from cli.params import (
    HOURS,
    ID,
    ISO_DATE,
    PERCENT,
    choice,
    hours_to_minutes,
    json_option,
    school_option,
)
from cli.student import student_id
from cli.wiring import CliContext, pass_cli
from domain.team import TargetKind
from domain.values import Profession

member_argument = click.argument("member_id", metavar="MEMBER-ID")
assignment_argument = click.argument("assignment_id", metavar="ASSIGNMENT-ID", type=ID)


@click.group()
def team() -> None:
    """The miljø team: members, positions, the coordinator and assignments.

    \b
    Example:
      miljo team form --school gjesdal --name "Miljøteamet"
      miljo team add-member --school gjesdal p-mt1 --profession sosionom --position 85
      miljo team assign --school gjesdal p-mt1 --target class --trinn 8 --class 8c \\
        --hours 7.5 --from 2024-08-19
    """


@team.command("form")
@school_option
@click.option("--name", required=True, help="The team's name.")
@json_option
@pass_cli
def form(cli: CliContext, school: str, name: str, as_json: bool) -> None:
    """Form the school's miljø team (one per school).

    \b
    Example:
      miljo team form --school gjesdal --name "Miljøteamet"
    """
    new_id = cli.miljo.form_team(cli.actor, school=school, name=name)
    render.report(as_json, "team form", f"Formed team at {school}", new_id=new_id)


@team.command("add-member")
@school_option
@member_argument
@click.option(
    "--profession", type=choice(Profession), required=True, help="The member's profession."
)
@click.option(
    "--position", "position", type=PERCENT, required=True, help="Position in percent, e.g. 85."
)
@click.option("--joined-on", type=ISO_DATE, help="First day in the team (default: today).")
@json_option
@pass_cli
def add_member(
    cli: CliContext,
    school: str,
    member_id: str,
    profession: str,
    position: Decimal,
    joined_on: date | None,
    as_json: bool,
) -> None:
    """Add a staff member (by pseudonymous MEMBER-ID) to the team.

    \b
    Example:
      miljo team add-member --school gjesdal p-mt1 --profession sosionom --position 85
    """
    cli.miljo.add_member(
        cli.actor,
        school=school,
        member_id=member_id,
        profession=profession,
        position_percent=position,
        joined_on=joined_on,
    )
    render.report(as_json, "team add-member", f"Added {member_id} to the team at {school}")


@team.command("position")
@school_option
@member_argument
@click.option("--percent", type=PERCENT, required=True, help="The new position in percent.")
@click.option("--from", "effective_from", type=ISO_DATE, required=True, help="Effective date.")
@json_option
@pass_cli
def position(
    cli: CliContext,
    school: str,
    member_id: str,
    percent: Decimal,
    effective_from: date,
    as_json: bool,
) -> None:
    """Change a member's position percentage from a date.

    \b
    Example:
      miljo team position --school gjesdal p-mt1 --percent 100 --from 2025-01-01
    """
    cli.miljo.change_position(
        cli.actor,
        school=school,
        member_id=member_id,
        position_percent=percent,
        effective_from=effective_from,
    )
    render.report(as_json, "team position", f"Changed the position of {member_id}")


@team.command("coordinator")
@school_option
@member_argument
@click.option("--from", "effective_from", type=ISO_DATE, help="Effective date (default: today).")
@json_option
@pass_cli
def coordinator(
    cli: CliContext, school: str, member_id: str, effective_from: date | None, as_json: bool
) -> None:
    """Appoint a member as the team's miljøkoordinator.

    \b
    Example:
      miljo team coordinator --school gjesdal p-mt1 --from 2024-08-19
    """
    cli.miljo.appoint_coordinator(
        cli.actor, school=school, member_id=member_id, effective_from=effective_from
    )
    render.report(as_json, "team coordinator", f"Appointed {member_id} coordinator")


@team.command("assign")
@school_option
@member_argument
@click.option(
    "--target", "target_kind", type=choice(TargetKind), required=True, help="What the hours go to."
)
@click.option("--hours", type=HOURS, required=True, help="Hours per week, e.g. 7.5.")
@click.option("--from", "valid_from", type=ISO_DATE, required=True, help="First day.")
@click.option("--to", "valid_to", type=ISO_DATE, help="Last day (default: open).")
@click.option(
    "--student", "number", metavar="NUMBER", help="The student's number (--target student)."
)
@click.option("--vedtak", "vedtak_id", type=ID, help="The vedtak the hours fall under.")
@click.option("--trinn", type=int, help="The trinn (--target trinn or class).")
@click.option("--class", "class_name", help="The class (--target class).")
@json_option
@pass_cli
def assign(
    cli: CliContext,
    school: str,
    member_id: str,
    target_kind: str,
    hours: Decimal,
    valid_from: date,
    valid_to: date | None,
    number: str | None,
    vedtak_id: UUID | None,
    trinn: int | None,
    class_name: str | None,
    as_json: bool,
) -> None:
    """Assign a member's weekly hours to a student, class, trinn, SFO or the school.

    \b
    Examples:
      miljo team assign --school gjesdal p-mt1 --target class --trinn 8 --class 8c \\
        --hours 7.5 --from 2024-08-19
      miljo team assign --school gjesdal p-mt1 --target student --student 1001 \\
        --vedtak VEDTAK-ID --hours 10 --from 2024-09-16 --to 2025-06-20
    """
    new_id = cli.miljo.assign(
        cli.actor,
        school=school,
        member_id=member_id,
        target_kind=target_kind,
        minutes_per_week=hours_to_minutes(hours),
        valid_from=valid_from,
        valid_to=valid_to,
        student_id=student_id(cli, school, number, call="assign") if number is not None else None,
        vedtak_id=vedtak_id,
        trinn=trinn,
        class_name=class_name,
    )
    render.report(as_json, "team assign", f"Assigned {member_id}", new_id=new_id)


@team.command("end-assignment")
@school_option
@assignment_argument
@click.option("--on", "on", type=ISO_DATE, required=True, help="The assignment's last day.")
@click.option("--reason", required=True, help="Why the assignment ends (one line).")
@json_option
@pass_cli
def end_assignment(
    cli: CliContext, school: str, assignment_id: UUID, on: date, reason: str, as_json: bool
) -> None:
    """End an assignment on a date.

    \b
    Example:
      miljo team end-assignment --school gjesdal ASSIGNMENT-ID --on 2024-12-20 \\
        --reason "Ny fordeling etter jul"
    """
    cli.miljo.end_assignment(
        cli.actor, school=school, assignment_id=assignment_id, ended_on=on, reason=reason
    )
    render.report(as_json, "team end-assignment", f"Ended assignment {assignment_id}")


@team.command("rotate")
@school_option
@assignment_argument
@click.option("--to-member", required=True, help="The member who takes over.")
@click.option("--on", "on", type=ISO_DATE, required=True, help="First day for the new member.")
@json_option
@pass_cli
def rotate(
    cli: CliContext, school: str, assignment_id: UUID, to_member: str, on: date, as_json: bool
) -> None:
    """Rotate an assignment to another member from a date; prints the new assignment's id.

    \b
    Example:
      miljo team rotate --school gjesdal ASSIGNMENT-ID --to-member p-mt2 --on 2025-01-06
    """
    new_id = cli.miljo.rotate_assignment(
        cli.actor, school=school, assignment_id=assignment_id, to_member_id=to_member, on=on
    )
    render.report(as_json, "team rotate", f"Rotated to {to_member}", new_id=new_id)


@team.command("member-left")
@school_option
@member_argument
@click.option("--on", "on", type=ISO_DATE, required=True, help="The member's last day.")
@json_option
@pass_cli
def member_left(cli: CliContext, school: str, member_id: str, on: date, as_json: bool) -> None:
    """Record that a member left the team (their assignments end that day).

    \b
    Example:
      miljo team member-left --school gjesdal p-mt2 --on 2025-01-31
    """
    cli.miljo.record_member_left(cli.actor, school=school, member_id=member_id, left_on=on)
    render.report(as_json, "team member-left", f"Recorded that {member_id} left")


@team.command("show")
@school_option
@click.option("--on", "on", type=ISO_DATE, help="Show assignments active on (default: today).")
@json_option
@pass_cli
def show(cli: CliContext, school: str, on: date | None, as_json: bool) -> None:
    """Show the team: members, coordinator and the assignments active on a day.

    \b
    Example:
      miljo team show --school gjesdal --on 2024-09-02
    """
    view = cli.miljo.team(cli.actor, school, on=on)
    if as_json:
        render.emit_json(render.TEAM.build(view))
        return
    click.echo(
        render.pairs(
            [
                ("team", f"{view.name} ({view.school_code})"),
                ("coordinator", view.coordinator_id),
                ("on", view.on),
            ]
        )
    )
    members = [
        (m.member_id, m.profession, f"{m.position_percent} %", m.joined_on, m.left_on)
        for m in view.members
    ]
    click.echo(
        render.section(
            "Members", render.table(["member", "profession", "position", "joined", "left"], members)
        )
    )
    assignments = [
        (
            a.member_id,
            a.target_kind,
            _target(a.trinn, a.class_name, a.student_id),
            render.hours_text(a.minutes_per_week),
            a.valid_from,
            a.valid_to,
            a.assignment_id,
        )
        for a in view.assignments
    ]
    click.echo(
        render.section(
            "Assignments",
            render.table(["member", "to", "target", "per week", "from", "to", "id"], assignments),
        )
    )


def _target(trinn: int | None, class_name: str | None, student: UUID | None) -> str:
    if student is not None:
        return f"student {student}"
    if class_name is not None:
        return f"class {class_name}"
    if trinn is not None:
        return f"trinn {trinn}"
    return "-"
