"""``miljo overview``: the ressursteam's overview of a school, as it goes on the wall.

Students appear by a short id prefix only, never by name or number: the overview is shown to
the whole team. Hours are shown as ``h:mm`` per week; ``--json`` gives exact minutes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from uuid import UUID

import click

from cli import render
from cli.params import ISO_DATE, json_option, school_option
from cli.wiring import CliContext, pass_cli
from domain.overview import ClassLine, Overview, TrinnLine, VedtakLine
from domain.values import local_date

#: How many characters of a student's id the wall shows.
PREFIX_LENGTH = 8

UNDER = "UNDER"
OVER = "OVER"


def short(identifier: UUID | None) -> str:
    """The first characters of an id (``-`` for none): enough to find it, no personal data."""
    return "-" if identifier is None else str(identifier)[:PREFIX_LENGTH]


def hm(minutes: int) -> str:
    return render.clock_text(minutes)


def gap(minutes: int) -> str:
    return render.clock_text(minutes, signed=True)


def allocation_flag(line: VedtakLine) -> str:
    """``UNDER``/``OVER`` per competence whose allocation misses the grant, ``ok`` if none."""
    flags = []
    for name, difference in (
        ("miljøterapeut", line.gap_miljoterapeut),
        ("assistant", line.gap_assistant),
    ):
        if difference < 0:
            flags.append(f"{UNDER} {name}")
        elif difference > 0:
            flags.append(f"{OVER} {name}")
    return ", ".join(flags) or "ok"


@click.command("overview")
@school_option
@click.option("--trinn", type=int, help="Only this trinn (default: the whole school).")
@click.option("--on", "on", type=ISO_DATE, help="The day of the overview (default: today).")
@json_option
@pass_cli
def overview(
    cli: CliContext, school: str, trinn: int | None, on: date | None, as_json: bool
) -> None:
    """The ressursteam overview: classes, vedtak hours, the team and open items.

    Per trinn and class: students, students with a vedtak and miljø staff hours a
    week; per vedtak: granted against allocated hours a week (UNDER/OVER flagged);
    SFO and school-wide hours; the team's capacity, allocation and free hours (the
    coordinator marked *); pending agenda items, open concerns, open actions
    (OVERDUE flagged), plans due, pending referrals, arbeidslag consent (MISSING
    flagged), and what was observed and changed since the last ressursteam.
    Students are shown by id prefix only. Opening the overview reads no case, so it
    is not written to any access log.

    \b
    Example:
      miljo overview --school gjesdal --on 2024-09-23
      miljo overview --school gjesdal --trinn 8 --json
    """
    if trinn is not None:
        view = cli.miljo.school(cli.actor, school)
        if not view.first_trinn <= trinn <= view.last_trinn:
            raise click.BadParameter(
                f"{school} has trinn {view.first_trinn}-{view.last_trinn}, not {trinn}",
                param_hint="'--trinn'",
            )
    result = cli.miljo.overview(cli.actor, school=school, trinn=trinn, on=on)
    if as_json:
        render.emit_json(render.OVERVIEW.build(result))
        return
    click.echo(render_overview(result))


# ---------------------------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------------------------


def render_overview(view: Overview) -> str:
    """The overview as text sections (what the ressursteam puts on the wall)."""
    scope = "every trinn" if view.trinn is None else f"trinn {view.trinn}"
    parts = [
        render.pairs(
            [
                ("overview", f"{view.school}, {scope}, on {view.on.isoformat()}"),
                ("last ressursteam", view.last_ressursteam_at or "none held"),
                ("hours", "h:mm per week; students by id prefix"),
            ]
        )
    ]
    for line in view.trinn_lines:
        parts.append(_trinn(line))
    parts.append(_vedtak(view))
    parts.append(
        render.section(
            "Hours per week",
            render.table(
                ["to", "hours"],
                [
                    *((f"trinn {t.trinn}", hm(t.staff_minutes)) for t in view.trinn_lines),
                    ("sfo", hm(view.school_wide_minutes.get("sfo", 0))),
                    ("school-wide", hm(view.school_wide_minutes.get("school", 0))),
                    ("total", hm(render.overview_staff_minutes(view))),
                ],
            ),
        )
    )
    parts.append(_team(view))
    parts.append(_open_items(view))
    parts.append(_since(view))
    return "\n".join(parts)


def _trinn(line: TrinnLine) -> str:
    students = sum(c.students for c in line.classes)
    with_vedtak = sum(c.students_with_vedtak for c in line.classes)
    title = (
        f"Trinn {line.trinn}: {students} student{'' if students == 1 else 's'}, "
        f"{with_vedtak} with vedtak, "
        f"staff {hm(line.staff_minutes)} (to the trinn {hm(line.trinn_minutes)})"
    )
    rows = [_class_row(c) for c in line.classes]
    return render.section(
        title,
        render.table(
            ["class", "students", "with vedtak", "to class", "to students", "staff"], rows
        ),
    )


def _class_row(line: ClassLine) -> Sequence[Any]:
    return (
        line.class_name,
        line.students,
        line.students_with_vedtak,
        hm(line.class_minutes),
        hm(line.student_minutes),
        hm(line.staff_minutes),
    )


def _vedtak(view: Overview) -> str:
    rows = [
        (
            f"{c.class_name}",
            short(v.student_id),
            short(v.vedtak_id),
            v.kind,
            hm(v.granted_per_week.miljoterapeut),
            hm(v.allocated_miljoterapeut),
            gap(v.gap_miljoterapeut),
            hm(v.granted_per_week.assistant),
            hm(v.allocated_assistant),
            gap(v.gap_assistant),
            allocation_flag(v),
        )
        for t in view.trinn_lines
        for c in t.classes
        for v in c.vedtak
    ]
    headers = [
        "class",
        "student",
        "vedtak",
        "kind",
        "mt granted",
        "mt allocated",
        "mt gap",
        "as granted",
        "as allocated",
        "as gap",
        "allocation",
    ]
    return render.section(
        "Vedtak in force (mt = miljøterapeut, as = assistant; gap = allocated - granted)",
        render.table(headers, rows),
    )


def _team(view: Overview) -> str:
    rows = [
        (
            f"{m.member_id} *" if m.coordinator else m.member_id,
            m.profession,
            hm(m.capacity),
            hm(m.allocated),
            hm(m.free),
            OVER if m.free < 0 else "",
        )
        for m in view.team
    ]
    return render.section(
        "Team (* coordinator)",
        render.table(["member", "profession", "capacity", "allocated", "free", "flag"], rows),
    )


def _open_items(view: Overview) -> str:
    items = [
        (
            local_date(i.scheduled_at),
            i.meeting_kind,
            i.subject_kind,
            _subject(i.subject_kind, i.student_id, i.trinn, i.class_name),
            short(i.item_id),
        )
        for i in view.pending_items
    ]
    concerns = [
        (local_date(c.raised_at), short(c.student_id), short(c.concern_id))
        for c in view.open_concerns
    ]
    actions = [
        (
            a.due,
            a.responsible,
            short(a.student_id),
            short(a.decision_id),
            "OVERDUE" if a.overdue else "",
        )
        for a in view.open_actions
    ]
    plans = [(p.evaluation_date, short(p.student_id), short(p.plan_id)) for p in view.plans_due]
    referrals = [
        (r.made_on, r.body, r.status, short(r.student_id), short(r.referral_id))
        for r in view.pending_referrals
    ]
    consent = [
        (
            c.meeting_date,
            short(c.student_id),
            c.bodies,
            "covered" if c.covered else "MISSING " + ", ".join(c.missing),
        )
        for c in view.arbeidslag_consent
    ]
    return "\n".join(
        [
            render.section(
                "Pending agenda items",
                render.table(["meeting", "kind", "subject", "about", "item"], items),
            ),
            render.section(
                "Open concerns", render.table(["raised", "student", "concern"], concerns)
            ),
            render.section(
                "Open actions",
                render.table(["due", "responsible", "student", "decision", "flag"], actions),
            ),
            render.section(
                "Aktivitetsplaner due for evaluation",
                render.table(["evaluate", "student", "plan"], plans),
            ),
            render.section(
                "Pending referrals",
                render.table(["made", "body", "status", "student", "referral"], referrals),
            ),
            render.section(
                "Arbeidslag consent (named students)",
                render.table(["meeting", "student", "bodies", "consent"], consent),
            ),
        ]
    )


def _since(view: Overview) -> str:
    since = (
        "since the last ressursteam"
        if view.last_ressursteam_at is not None
        else "(no ressursteam held: everything)"
    )
    observations = list(view.observations_by_category.items())
    changes = list(view.changes_since_ressursteam.items())
    return "\n".join(
        [
            render.section(
                f"Observations {since}", render.table(["category", "count"], observations)
            ),
            render.section(f"Changes {since}", render.table(["event type", "count"], changes)),
        ]
    )


def _subject(
    subject_kind: str, student: UUID | None, trinn: int | None, class_name: str | None
) -> str:
    if student is not None:
        return f"student {short(student)}"
    if subject_kind == "student":
        where = f" in {class_name}" if class_name else (f" on trinn {trinn}" if trinn else "")
        return f"anonymous{where}"
    if class_name is not None:
        return f"class {class_name}"
    if trinn is not None:
        return f"trinn {trinn}"
    return "-"
