"""The ressursteam overview: what the team needs on the table at its meeting.

Pure computation over read-model rows (``ViewReader``), so its cost follows the size of the
school (students, staff, open items), not the number of events ever stored: every query asks
for the school's current rows (active students, rows in force on the day, open meetings,
actions and items, the last held ressursteam) by indexed columns, never for its history, and
never once per student (docs/adr/0014-fast-view-rebuild.md).

As of a day: the last ressursteam is the last one held by the end of that day (Norwegian
time), and the "since the last ressursteam" counts stop at that end too; concerns raised and
referrals made after the day are left out; each student is in the trinn and class in force
on the day (``placements``), and one registered after it is left out. Rows that only say what
is open now (concerns not discussed, plans not closed, referrals pending, students active,
meetings not held) are read as they are now: the read models keep no date of those changes.

Arbeidslag consent: every named student item of a meeting not yet held is listed with the
bodies its consent covers on the meeting's scheduled date; a meeting held since the last
ressursteam (by the end of the day) is listed only for items that consent did not cover on
the date held (stored before holding checked consent, or a withdrawal recorded later with an
earlier date), so such a breach stays on the ressursteam's table.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import attrs

from domain.ports import ViewReader
from domain.values import (
    SCHOOL_TIMEZONE,
    Competence,
    HoursByCompetence,
    MeetingKind,
    Profession,
    local_date,
    position_minutes_per_week,
)

WEEKS_PER_SCHOOL_YEAR = 38


@attrs.frozen
class VedtakLine:
    """A student's vedtak in force: granted minutes per week vs the team's allocation."""

    student_id: UUID
    vedtak_id: UUID
    kind: str
    granted_per_week: HoursByCompetence
    allocated_miljoterapeut: int
    allocated_assistant: int

    @property
    def gap_miljoterapeut(self) -> int:
        """Allocated minus granted (negative: under-allocated; positive: over-allocated)."""
        return self.allocated_miljoterapeut - self.granted_per_week.miljoterapeut

    @property
    def gap_assistant(self) -> int:
        return self.allocated_assistant - self.granted_per_week.assistant


@attrs.frozen
class ClassLine:
    trinn: int
    class_name: str
    students: int
    students_with_vedtak: int
    vedtak: list[VedtakLine]
    class_minutes: int  # miljø staff minutes/week assigned to the class itself
    student_minutes: int  # ... and to its students individually

    @property
    def staff_minutes(self) -> int:
        return self.class_minutes + self.student_minutes


@attrs.frozen
class TrinnLine:
    trinn: int
    classes: list[ClassLine]
    trinn_minutes: int  # assigned to the trinn as a whole

    @property
    def staff_minutes(self) -> int:
        return self.trinn_minutes + sum(c.staff_minutes for c in self.classes)


@attrs.frozen
class MemberLine:
    member_id: str
    profession: str
    coordinator: bool
    capacity: int
    allocated: int

    @property
    def free(self) -> int:
        return self.capacity - self.allocated


@attrs.frozen
class ActionLine:
    decision_id: UUID
    meeting_id: UUID
    student_id: UUID | None
    responsible: str
    due: date
    overdue: bool


@attrs.frozen
class AgendaLine:
    item_id: UUID
    meeting_id: UUID
    meeting_kind: str
    scheduled_at: datetime
    subject_kind: str
    student_id: UUID | None
    trinn: int | None
    class_name: str | None


@attrs.frozen
class ConcernLine:
    concern_id: UUID
    student_id: UUID
    raised_at: datetime


@attrs.frozen
class PlanLine:
    plan_id: UUID
    student_id: UUID
    evaluation_date: date


@attrs.frozen
class ReferralLine:
    referral_id: UUID
    student_id: UUID
    body: str
    status: str
    made_on: date


@attrs.frozen
class ConsentCheck:
    """A named student on an arbeidslag agenda: is every external body covered on the
    meeting's date? (An upcoming meeting: its scheduled date, covered or not; a held one: the
    date held, listed only when something is missing.)"""

    meeting_id: UUID
    item_id: UUID
    student_id: UUID
    meeting_date: date
    bodies: list[str]
    missing: list[str]

    @property
    def covered(self) -> bool:
        return not self.missing


@attrs.frozen
class Overview:
    school: str
    on: date
    trinn: int | None
    last_ressursteam_at: datetime | None
    trinn_lines: list[TrinnLine]
    school_wide_minutes: dict[str, int]  # "sfo" / "school" -> minutes/week
    team: list[MemberLine]
    pending_items: list[AgendaLine]
    open_concerns: list[ConcernLine]
    open_actions: list[ActionLine]
    plans_due: list[PlanLine]
    pending_referrals: list[ReferralLine]
    observations_by_category: dict[str, int]
    arbeidslag_consent: list[ConsentCheck]
    changes_since_ressursteam: dict[str, int]

    @property
    def vedtak_lines(self) -> list[VedtakLine]:
        return [v for t in self.trinn_lines for c in t.classes for v in c.vedtak]


def _date(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value)


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _in_force(
    row: dict[str, Any], on: date, start: str = "valid_from", end: str = "valid_to"
) -> bool:
    first = _date(row[start])
    last = _date(row[end])
    return first is not None and first <= on and (last is None or on <= last)


def _vedtak_in_force(row: dict[str, Any], on: date) -> bool:
    if row["status"] not in ("decided", "revoked"):
        return False
    if not _in_force(row, on):
        return False
    revoked = _date(row["revoked_on"])
    return revoked is None or on < revoked


def _competence(profession: str) -> Competence:
    try:
        return Profession(profession).competence
    except ValueError:
        return Competence.ASSISTANT


def _position_on(positions: list[dict[str, Any]], on: date) -> Decimal | None:
    current: Decimal | None = None
    for row in sorted(positions, key=lambda r: str(r["effective_from"])):
        if date.fromisoformat(row["effective_from"]) <= on:
            current = Decimal(row["percent"])
    return current


def compute_overview(
    reader: ViewReader, *, school: str, on: date, trinn: int | None = None
) -> Overview:
    """Compute the overview of ``school`` (optionally one trinn) as it stands on ``on``."""
    day = on.isoformat()
    # Active students in the trinn and class in force on the day (a class change takes effect
    # on its date); one registered after the day has no placement then and is left out.
    placed = {
        p["student_id"]: p for p in reader.select_in_force("placements", {"school": school}, on=day)
    }
    students = [
        {
            **s,
            "trinn": placed[s["student_id"]]["trinn"],
            "class_name": placed[s["student_id"]]["class_name"],
        }
        for s in reader.select("students", {"school": school, "active": 1})
        if s["student_id"] in placed
    ]
    if trinn is not None:
        students = [s for s in students if s["trinn"] == trinn]
    student_ids = {s["student_id"] for s in students}
    classes = reader.select("classes", {"school": school})
    members = reader.select("members", {"school": school})
    positions = reader.select("positions", {"school": school})
    assignments = [
        a
        for a in reader.select_in_force("assignments", {"school": school}, on=day)
        if _in_force(a, on)
    ]
    vedtak_rows = [
        v
        for v in reader.select_in_force("vedtak", {"school": school}, on=day)
        if _vedtak_in_force(v, on) and v["student_id"] in student_ids
    ]
    # Meetings neither held nor cancelled; others are read one by one when an open action
    # refers to one (below).
    open_meetings = reader.select("meetings", {"school": school, "open": 1})
    meetings: dict[str, dict[str, Any]] = {m["meeting_id"]: m for m in open_meetings}

    member_competence = {m["member_id"]: _competence(m["profession"]) for m in members}

    # -- vedtak lines and per-class minutes -------------------------------------------------------
    by_vedtak: dict[str, dict[Competence, int]] = defaultdict(lambda: defaultdict(int))
    class_minutes: dict[str, int] = defaultdict(int)
    student_minutes: dict[str, int] = defaultdict(int)
    trinn_minutes: dict[int, int] = defaultdict(int)
    school_wide: dict[str, int] = {"sfo": 0, "school": 0}
    for a in assignments:
        kind = a["target_kind"]
        if kind == "student":
            if a["vedtak_id"]:
                comp = member_competence.get(a["member_id"], Competence.ASSISTANT)
                by_vedtak[a["vedtak_id"]][comp] += a["minutes"]
            student_minutes[a["student_id"]] += a["minutes"]
        elif kind == "class":
            class_minutes[a["class_name"]] += a["minutes"]
        elif kind == "trinn":
            trinn_minutes[a["trinn"]] += a["minutes"]
        else:
            school_wide[kind] = school_wide.get(kind, 0) + a["minutes"]

    vedtak_by_student: dict[str, list[VedtakLine]] = defaultdict(list)
    for v in vedtak_rows:
        yearly = HoursByCompetence(**{c.value: int(v[c.value]) for c in Competence})
        allocated = by_vedtak.get(v["vedtak_id"], {})
        vedtak_by_student[v["student_id"]].append(
            VedtakLine(
                student_id=UUID(v["student_id"]),
                vedtak_id=UUID(v["vedtak_id"]),
                kind=v["kind"],
                granted_per_week=yearly.per_week(WEEKS_PER_SCHOOL_YEAR),
                allocated_miljoterapeut=allocated.get(Competence.MILJOTERAPEUT, 0),
                allocated_assistant=allocated.get(Competence.ASSISTANT, 0),
            )
        )

    students_by_class: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for s in students:
        students_by_class[s["class_name"]].append(s)

    trinn_lines: list[TrinnLine] = []
    class_rows = sorted(classes, key=lambda c: (c["trinn"], c["class_name"]))
    trinns = sorted({c["trinn"] for c in class_rows} | {s["trinn"] for s in students})
    for level in trinns:
        if trinn is not None and level != trinn:
            continue
        lines = []
        for c in (c for c in class_rows if c["trinn"] == level):
            members_of_class = students_by_class.get(c["class_name"], [])
            vlines = sorted(
                (line for s in members_of_class for line in vedtak_by_student[s["student_id"]]),
                key=lambda line: (str(line.student_id), str(line.vedtak_id)),
            )
            lines.append(
                ClassLine(
                    trinn=level,
                    class_name=c["class_name"],
                    students=len(members_of_class),
                    students_with_vedtak=len({line.student_id for line in vlines}),
                    vedtak=vlines,
                    class_minutes=class_minutes.get(c["class_name"], 0),
                    student_minutes=sum(
                        student_minutes.get(s["student_id"], 0) for s in members_of_class
                    ),
                )
            )
        trinn_lines.append(
            TrinnLine(trinn=level, classes=lines, trinn_minutes=trinn_minutes.get(level, 0))
        )

    # -- team ----------------------------------------------------------------------------------
    team_lines = []
    for m in sorted(members, key=lambda r: r["member_id"]):
        joined = date.fromisoformat(m["joined_on"])
        left = _date(m["left_on"])
        if joined > on or (left is not None and left < on):
            continue
        pct = _position_on([p for p in positions if p["member_id"] == m["member_id"]], on)
        team_lines.append(
            MemberLine(
                member_id=m["member_id"],
                profession=m["profession"],
                coordinator=bool(m["coordinator"]),
                capacity=position_minutes_per_week(pct) if pct is not None else 0,
                allocated=sum(
                    a["minutes"] for a in assignments if a["member_id"] == m["member_id"]
                ),
            )
        )

    # -- meetings ------------------------------------------------------------------------------
    end = _end_of(on)
    last_held = reader.latest(
        "meetings",
        {"school": school, "kind": MeetingKind.RESSURSTEAM.value, "cancelled": 0},
        "held_at",
        before=end,
    )
    last_ressursteam = _instant(last_held) if last_held else None
    since = last_ressursteam.isoformat() if last_ressursteam else None

    def in_scope(row: dict[str, Any]) -> bool:
        if trinn is None:
            return True
        if row.get("student_id"):
            return row["student_id"] in student_ids
        return row.get("trinn") in (None, trinn)

    pending_items = []
    consent_checks = []
    agenda_rows = [
        row
        for meeting_id in sorted(meetings)
        for row in reader.select("agenda", {"meeting_id": meeting_id})
    ]
    agenda_by_id = {row["item_id"]: row for row in agenda_rows}
    for item in agenda_rows:
        meeting = meetings.get(item["meeting_id"])
        if meeting is None or meeting["held_at"] or meeting["cancelled"] or not in_scope(item):
            continue
        pending_items.append(
            AgendaLine(
                item_id=UUID(item["item_id"]),
                meeting_id=UUID(item["meeting_id"]),
                meeting_kind=meeting["kind"],
                scheduled_at=_instant(meeting["scheduled_at"]),
                subject_kind=item["subject_kind"],
                student_id=UUID(item["student_id"]) if item["student_id"] else None,
                trinn=item["trinn"],
                class_name=item["class_name"],
            )
        )
        if meeting["kind"] == MeetingKind.ARBEIDSLAG.value and item["student_id"]:
            meeting_date = local_date(_instant(meeting["scheduled_at"]))
            consent_checks.append(_consent_check(reader, item, meeting_date))
    # Arbeidslag meetings held since the last ressursteam: named items consent did not cover.
    for held in reader.select_range(
        "meetings",
        {"school": school, "kind": MeetingKind.ARBEIDSLAG.value},
        "held_at",
        after=since,
        before=end,
    ):
        held_on = local_date(_instant(held["held_at"]))
        for item in reader.select("agenda", {"meeting_id": held["meeting_id"]}):
            if not item["student_id"] or not in_scope(item):
                continue
            check = _consent_check(reader, item, held_on)
            if not check.covered:
                consent_checks.append(check)
    pending_items.sort(key=lambda line: (line.scheduled_at, str(line.item_id)))
    consent_checks.sort(key=lambda c: (c.meeting_date, str(c.meeting_id), str(c.item_id)))

    # Open actions, and the agenda items and meetings they refer to that were not read above
    # (meetings held earlier, items of those meetings), each table read once for all of them.
    action_rows = [
        row
        for row in reader.select("actions", {"school": school, "open": 1})
        if row["responsible"] is not None and row["completed_on"] is None
    ]
    if trinn is not None:
        agenda_by_id.update(
            (row["item_id"], row)
            for row in _any(
                reader,
                "agenda",
                "item_id",
                {r["item_id"] for r in action_rows} - agenda_by_id.keys(),
            )
        )
    earlier = {r["meeting_id"] for r in action_rows} - meetings.keys()
    meetings.update((m["meeting_id"], m) for m in _any(reader, "meetings", "meeting_id", earlier))
    open_actions = []
    for row in action_rows:
        # An action is in scope as its agenda item is (its own row if the item is unknown).
        if trinn is not None and not in_scope(agenda_by_id.get(row["item_id"]) or row):
            continue
        meeting = meetings.get(row["meeting_id"])
        if meeting is not None and meeting["cancelled"]:
            continue
        due = date.fromisoformat(row["due"])
        open_actions.append(
            ActionLine(
                decision_id=UUID(row["decision_id"]),
                meeting_id=UUID(row["meeting_id"]),
                student_id=UUID(row["student_id"]) if row["student_id"] else None,
                responsible=row["responsible"],
                due=due,
                overdue=due < on,
            )
        )
    open_actions.sort(key=lambda a: (a.due, str(a.decision_id)))

    # -- per-student records -------------------------------------------------------------------
    # The school's open records, one query each, kept for its (active, in-scope) students.
    concerns: list[ConcernLine] = [
        ConcernLine(UUID(c["concern_id"]), UUID(c["student_id"]), _instant(c["raised_at"]))
        for c in reader.select("concerns", {"school": school, "discussed": 0})
        if c["student_id"] in student_ids and (end is None or c["raised_at"] < end)
    ]
    plans: list[PlanLine] = []
    for p in reader.select("plans", {"school": school, "closed": 0}):
        due_on = _date(p["evaluation_date"])
        if p["student_id"] in student_ids and due_on is not None and due_on <= on:
            plans.append(PlanLine(UUID(p["plan_id"]), UUID(p["student_id"]), due_on))
    referrals: list[ReferralLine] = [
        ReferralLine(
            UUID(r["referral_id"]),
            UUID(r["student_id"]),
            r["body"],
            r["status"],
            date.fromisoformat(r["made_on"]),
        )
        for r in reader.select("referrals", {"school": school, "pending": 1})
        if r["student_id"] in student_ids and date.fromisoformat(r["made_on"]) <= on
    ]
    concerns.sort(key=lambda c: (c.raised_at, str(c.concern_id)))
    plans.sort(key=lambda p: (p.evaluation_date, str(p.plan_id)))
    referrals.sort(key=lambda r: (r.made_on, str(r.referral_id)))

    observations = reader.observation_counts(
        school=school, since=since, students=student_ids, before=end
    )
    changes = reader.event_type_counts(school=school, since=since, before=end)

    return Overview(
        school=school,
        on=on,
        trinn=trinn,
        last_ressursteam_at=last_ressursteam,
        trinn_lines=trinn_lines,
        school_wide_minutes=school_wide,
        team=team_lines,
        pending_items=pending_items,
        open_concerns=concerns,
        open_actions=open_actions,
        plans_due=plans,
        pending_referrals=referrals,
        observations_by_category=dict(sorted(observations.items())),
        arbeidslag_consent=consent_checks,
        changes_since_ressursteam=dict(sorted(changes.items())),
    )


def _any(reader: ViewReader, table: str, column: str, values: set[str]) -> list[dict[str, Any]]:
    """``reader.select_any`` in a stable order, without a call for no values."""
    return reader.select_any(table, column, sorted(values)) if values else []


def _end_of(day: date) -> str | None:
    """The UTC instant (ISO, as the read models store instants) at which ``day`` ends in
    Norway; None after the last representable day (no bound)."""
    try:
        following = day + timedelta(days=1)
    except OverflowError:
        return None
    start = datetime.combine(following, time(), tzinfo=SCHOOL_TIMEZONE)
    return start.astimezone(UTC).isoformat()


def _consent_check(reader: ViewReader, item: dict[str, Any], on: date) -> ConsentCheck:
    """Which of the arbeidslag's external bodies the named item's consent covers on ``on``."""
    bodies = sorted(
        b["body"] for b in reader.select("meeting_bodies", {"meeting_id": item["meeting_id"]})
    )
    consents = reader.select("consents", {"student_id": item["student_id"]})
    missing = [
        b
        for b in bodies
        if not any(_consent_covers(c, b, MeetingKind.ARBEIDSLAG.value, on) for c in consents)
    ]
    return ConsentCheck(
        meeting_id=UUID(item["meeting_id"]),
        item_id=UUID(item["item_id"]),
        student_id=UUID(item["student_id"]),
        meeting_date=on,
        bodies=bodies,
        missing=missing,
    )


def _consent_covers(row: dict[str, Any], body: str, meeting_kind: str, on: date) -> bool:
    if row["scope_kind"] == "body" and row["scope"] != body:
        return False
    if row["scope_kind"] == "meeting_kind" and row["scope"] != meeting_kind:
        return False
    withdrawn = _date(row["withdrawn_on"])
    if withdrawn is not None and withdrawn <= on:
        return False
    return _in_force(row, on)
