"""Output: stable JSON documents (orjson, sorted keys) and readable text tables.

Each ``--json`` document is described once, by a :class:`Schema` below. The schema both picks
the values from the facade's views and documents the document in docs/cli.md, so the two
cannot drift. Ids are strings, dates ``YYYY-MM-DD``, instants ISO 8601 with offset, decimals
strings, hours exact integer minutes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any, Final
from uuid import UUID

import attrs
import click
import orjson

from domain.overview import Overview
from domain.values import SCHOOL_TIMEZONE, HoursByCompetence

JSON_OPTIONS: Final = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2

# Documented JSON types (docs/cli.md).
UUID_T: Final = "string (id)"
DATE_T: Final = "string (YYYY-MM-DD)"
INSTANT_T: Final = "string (ISO 8601 instant with offset)"
STR_T: Final = "string"
INT_T: Final = "integer"
BOOL_T: Final = "boolean"
DECIMAL_T: Final = "string (decimal)"
MINUTES_T: Final = "object (integer minutes by competence)"


def nullable(kind: str) -> str:
    return f"{kind} or null"


def array(kind: str) -> str:
    return f"array of {kind}"


@attrs.frozen
class Field:
    key: str
    kind: str
    attr: str | None = None  # the view attribute, when it differs from the key
    get: Callable[[Any], Any] | None = None  # a computed value
    given: bool = False  # passed to Schema.build by the command, not read from the view
    of: Schema | None = None  # schema of each item of a list value
    one: Schema | None = None  # schema of a nested object value (None stays null)


@attrs.frozen
class Schema:
    name: str
    fields: tuple[Field, ...]

    @property
    def keys(self) -> list[str]:
        return sorted(f.key for f in self.fields)

    def build(self, source: Any, **given: Any) -> dict[str, Any]:
        """The JSON-ready document for ``source`` (a view object) and ``given`` values."""
        document: dict[str, Any] = {}
        for field in self.fields:
            if field.given:
                value = given[field.key]
            elif field.get is not None:
                value = field.get(source)
            elif isinstance(source, Mapping):
                value = source[field.attr or field.key]
            else:
                value = getattr(source, field.attr or field.key)
            if field.of is not None:
                document[field.key] = [field.of.build(item) for item in value]
            elif field.one is not None:
                document[field.key] = None if value is None else field.one.build(value)
            else:
                document[field.key] = plain(value)
        return document

    def describe(self, indent: str = "") -> list[str]:
        """Markdown bullet lines describing the document (for docs/cli.md)."""
        lines = []
        for field in sorted(self.fields, key=lambda f: f.key):
            if field.of is not None:
                lines.append(f"{indent}- `{field.key}`: array of objects:")
                lines.extend(field.of.describe(indent + "  "))
            elif field.one is not None:
                lines.append(f"{indent}- `{field.key}`: {field.kind or 'object'}:")
                lines.extend(field.one.describe(indent + "  "))
            else:
                lines.append(f"{indent}- `{field.key}`: {field.kind}")
        return lines


def plain(value: Any) -> Any:
    """Convert a domain value to a JSON-ready value (ids and decimals become strings)."""
    if value is None or (isinstance(value, bool | int | str) and not isinstance(value, Enum)):
        return value
    if isinstance(value, Enum):
        return plain(value.value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, HoursByCompetence):
        return value.to_dict()
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    raise TypeError(f"no JSON form for {type(value).__name__}")


def dumps(document: Any) -> str:
    return orjson.dumps(document, option=JSON_OPTIONS).decode("utf-8")


def emit_json(document: Any) -> None:
    click.echo(dumps(document))


# ---------------------------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------------------------

WRITE_RESULT = Schema(
    "write result (every command that records something, with --json)",
    (
        Field("action", STR_T + ', e.g. "student register"'),
        Field("id", nullable(UUID_T) + " (the new record's id, if the command creates one)"),
    ),
)

SCHOOL = Schema(
    "school show",
    (
        Field("school_id", UUID_T),
        Field("code", STR_T),
        Field("name", STR_T),
        Field("first_trinn", INT_T),
        Field("last_trinn", INT_T),
        Field(
            "classes",
            "",
            get=lambda v: [
                _ClassRow(name, trinn)
                for name, trinn in sorted(v.classes.items(), key=lambda c: (c[1], c[0]))
            ],
            of=Schema(
                "class",
                (Field("class_name", STR_T), Field("trinn", INT_T)),
            ),
        ),
        Field("active_students", INT_T),
        Field("active_student_ids", array(UUID_T), given=True),
    ),
)


@attrs.frozen
class _ClassRow:
    class_name: str
    trinn: int


STUDENT_SUMMARY = Schema(
    "student find",
    (
        Field("student_id", UUID_T),
        Field("school_code", STR_T),
        Field("trinn", INT_T),
        Field("class_name", STR_T),
        Field("is_active", BOOL_T),
    ),
)

OBSERVATION = Schema(
    "observation",
    (
        Field("observation_id", UUID_T),
        Field("version_id", UUID_T),
        Field("arena", STR_T),
        Field("categories", array(STR_T)),
        Field("text", STR_T),
        Field("student_voice", nullable(STR_T)),
        Field("observed_at", INSTANT_T),
        Field("recorded_at", INSTANT_T),
        Field("author_id", STR_T),
        Field("author_role", STR_T),
        Field("first_recorded_at", INSTANT_T),
        Field("first_author_id", STR_T),
        Field("corrected", BOOL_T),
        Field("correction_ids", array(UUID_T)),
        Field("correction_reason", nullable(STR_T)),
    ),
)

CONCERN = Schema(
    "concern",
    (
        Field("concern_id", UUID_T),
        Field("text", STR_T),
        Field("raised_at", INSTANT_T),
        Field("raised_by", STR_T),
        Field("raised_by_role", STR_T),
        Field("discussed_in", array(UUID_T) + " (meeting ids)"),
    ),
)

CONSENT = Schema(
    "consent",
    (
        Field("consent_id", UUID_T),
        Field("giver", STR_T),
        Field("scope_kind", STR_T),
        Field("scope", STR_T),
        Field("valid_from", DATE_T),
        Field("valid_to", nullable(DATE_T)),
        Field("note", nullable(STR_T)),
        Field("recorded_at", INSTANT_T),
        Field("recorded_by", STR_T),
        Field("withdrawn_on", nullable(DATE_T)),
    ),
)

REFERRAL = Schema(
    "referral",
    (
        Field("referral_id", UUID_T),
        Field("body", STR_T),
        Field("reason", STR_T),
        Field("made_on", DATE_T),
        Field("made_by", STR_T),
        Field("status", STR_T),
        Field("status_changed_on", DATE_T),
    ),
)

PLAN = Schema(
    "aktivitetsplan",
    (
        Field("plan_id", UUID_T),
        Field("problem", STR_T),
        Field("measures", array(STR_T)),
        Field("when", STR_T),
        Field("responsible", STR_T),
        Field("evaluation_date", nullable(DATE_T)),
        Field("created_at", INSTANT_T),
        Field("created_by", STR_T),
        Field("last_evaluated_on", nullable(DATE_T)),
        Field("closed_on", nullable(DATE_T)),
        Field("close_reason", nullable(STR_T)),
    ),
)

STUDENT_CASE = Schema(
    "student show",
    (
        Field("student_id", UUID_T),
        Field("school_code", STR_T),
        Field("student_number", STR_T),
        Field("name", STR_T),
        Field("trinn", INT_T),
        Field("class_name", STR_T),
        Field("registered_on", DATE_T),
        Field("is_active", BOOL_T),
        Field("observations", "", of=OBSERVATION),
        Field("concerns", "", of=CONCERN),
        Field("consents", "", of=CONSENT),
        Field("referrals", "", of=REFERRAL),
        Field("plans", "", of=PLAN),
        Field("vedtak_ids", array(UUID_T)),
        Field("meeting_ids", array(UUID_T)),
        Field("version", INT_T),
    ),
)

VEDTAK = Schema(
    "vedtak show",
    (
        Field("vedtak_id", UUID_T),
        Field("student_id", UUID_T),
        Field("school_code", STR_T),
        Field("kind", STR_T),
        Field("legal_reference", STR_T),
        Field("status", STR_T),
        Field("recommendation_minutes", nullable(MINUTES_T) + " per year", attr="recommendation"),
        Field("granted_minutes", nullable(MINUTES_T) + " per year", attr="granted"),
        Field("deviates", BOOL_T),
        Field("valid_from", nullable(DATE_T)),
        Field("valid_to", nullable(DATE_T)),
        Field("in_force_until", nullable(DATE_T)),
        Field("notice_date", nullable(DATE_T)),
        Field("appeal_deadline", nullable(DATE_T)),
        Field("appeal_open", BOOL_T),
        Field("delivered_minutes", MINUTES_T + " (all recorded weeks)", attr="delivered"),
        Field("version", INT_T),
    ),
)

MEMBER = Schema(
    "member",
    (
        Field("member_id", STR_T),
        Field("profession", STR_T),
        Field("position_percent", DECIMAL_T),
        Field("joined_on", DATE_T),
        Field("left_on", nullable(DATE_T)),
        Field("is_coordinator", BOOL_T),
    ),
)

ASSIGNMENT = Schema(
    "assignment",
    (
        Field("assignment_id", UUID_T),
        Field("member_id", STR_T),
        Field("target_kind", STR_T),
        Field("student_id", nullable(UUID_T)),
        Field("vedtak_id", nullable(UUID_T)),
        Field("trinn", nullable(INT_T)),
        Field("class_name", nullable(STR_T)),
        Field("minutes_per_week", INT_T),
        Field("valid_from", DATE_T),
        Field("valid_to", nullable(DATE_T)),
    ),
)

TEAM = Schema(
    "team show",
    (
        Field("team_id", UUID_T),
        Field("school_code", STR_T),
        Field("name", STR_T),
        Field("coordinator_id", nullable(STR_T)),
        Field("on", DATE_T + " (the day the assignments are active on)"),
        Field("members", "", of=MEMBER),
        Field("assignments", "", of=ASSIGNMENT),
    ),
)

PARTICIPANT = Schema("participant", (Field("person_id", STR_T), Field("role", STR_T)))

AGENDA_ITEM = Schema(
    "agenda item",
    (
        Field("item_id", UUID_T),
        Field("subject_kind", STR_T),
        Field("student_id", nullable(UUID_T)),
        Field("anonymous", BOOL_T),
        Field("trinn", nullable(INT_T)),
        Field("class_name", nullable(STR_T)),
        Field("title", STR_T),
        Field("concern_id", nullable(UUID_T)),
    ),
)

DECISION = Schema(
    "decision",
    (
        Field("decision_id", UUID_T),
        Field("item_id", UUID_T),
        Field("student_id", nullable(UUID_T)),
        Field("outcome", STR_T),
        Field("text", STR_T),
        Field("responsible", nullable(STR_T)),
        Field("due", nullable(DATE_T)),
        Field("completed_on", nullable(DATE_T)),
    ),
)

NOTE = Schema(
    "note",
    (
        Field("item_id", UUID_T),
        Field("student_id", nullable(UUID_T)),
        Field("text", STR_T),
        Field("recorded_at", INSTANT_T),
        Field("recorded_by", STR_T),
    ),
)

AMENDMENT = Schema(
    "amendment",
    (
        Field("amendment_id", UUID_T),
        Field("item_id", nullable(UUID_T)),
        Field("student_id", nullable(UUID_T)),
        Field("text", STR_T),
        Field("reason", STR_T),
        Field("recorded_at", INSTANT_T),
        Field("recorded_by", STR_T),
    ),
)

ACTION = Schema(
    "open action",
    (
        Field("decision_id", UUID_T),
        Field("item_id", UUID_T),
        Field("student_id", nullable(UUID_T)),
        Field("responsible", STR_T),
        Field("due", DATE_T),
        Field("text", STR_T),
    ),
)

MEETING = Schema(
    "meeting show",
    (
        Field("meeting_id", UUID_T),
        Field("school_code", STR_T),
        Field("kind", STR_T),
        Field("scheduled_at", INSTANT_T),
        Field("held_at", nullable(INSTANT_T)),
        Field("minutes_closed", BOOL_T),
        Field("cancelled", BOOL_T),
        Field("participants", "", of=PARTICIPANT),
        Field("external_bodies", array(STR_T)),
        Field("agenda", "", of=AGENDA_ITEM),
        Field("notes", "", of=NOTE),
        Field("decisions", "", of=DECISION),
        Field("amendments", "", of=AMENDMENT),
        Field("open_actions", "", of=ACTION),
        Field("version", INT_T),
    ),
)

STORE_INFO = Schema(
    "store info",
    (
        Field("path", STR_T + ' (":memory:" for an in-memory store)'),
        Field("size_bytes", INT_T),
        Field("event_count", INT_T),
        Field("keys_dir", nullable(STR_T)),
        Field("keys_present", BOOL_T),
        Field("view_position", INT_T + " (the newest event the read models have applied)"),
        Field("views_behind", BOOL_T + " (events are stored that the read models lack)"),
    ),
)

STORE_REBUILD = Schema(
    "store rebuild",
    (
        *WRITE_RESULT.fields,
        Field("events_replayed", INT_T),
        Field("view_position", INT_T + " (the newest event the read models have applied)"),
    ),
)

STORE_INIT = Schema(
    "store init",
    (
        *WRITE_RESULT.fields,
        Field("path", STR_T + " (the store file)"),
        Field("keys", array(STR_T) + " (the key files created)"),
    ),
)

IMPORT_REPORT = Schema(
    "import roster",
    (
        Field("action", STR_T + ' ("import roster")', given=True),
        Field("school_code", STR_T),
        Field("rows", INT_T + " (student rows in the file)"),
        Field("registered", INT_T),
        Field("already_present", INT_T),
    ),
)

NOTICE_RESULT = Schema(
    "vedtak notice",
    (
        *WRITE_RESULT.fields,
        Field("appeal_deadline", DATE_T + " (last day to appeal)"),
    ),
)

ERASE_RESULT = Schema(
    "student erase",
    (
        *WRITE_RESULT.fields,
        Field("keys_deleted", INT_T + " (the student's erasable data keys deleted)"),
    ),
)

# -- overview (the ressursteam's wall; every minute count is per week) ----------------------------


def _under(line: Any) -> bool:
    return bool(line.gap_miljoterapeut < 0 or line.gap_assistant < 0)


def _over(line: Any) -> bool:
    return bool(line.gap_miljoterapeut > 0 or line.gap_assistant > 0)


@attrs.frozen
class _Count:
    key: str
    count: int


def _counts(counts: Mapping[str, int]) -> list[_Count]:
    return [_Count(key, count) for key, count in sorted(counts.items())]


def overview_staff_minutes(overview: Overview) -> int:
    """Every miljø staff minute per week in the overview: trinn lines, SFO and school-wide."""
    return sum(t.staff_minutes for t in overview.trinn_lines) + sum(
        overview.school_wide_minutes.values()
    )


OVERVIEW_VEDTAK = Schema(
    "overview vedtak line",
    (
        Field("student_id", UUID_T),
        Field("vedtak_id", UUID_T),
        Field("kind", STR_T),
        Field(
            "granted_minutes_per_week",
            MINUTES_T + " (granted per year / 38 weeks, rounded down)",
            attr="granted_per_week",
        ),
        Field("allocated_miljoterapeut_minutes_per_week", INT_T, attr="allocated_miljoterapeut"),
        Field("allocated_assistant_minutes_per_week", INT_T, attr="allocated_assistant"),
        Field(
            "gap_miljoterapeut_minutes_per_week",
            INT_T + " (allocated - granted: negative is under-allocated)",
            attr="gap_miljoterapeut",
        ),
        Field(
            "gap_assistant_minutes_per_week",
            INT_T + " (allocated - granted: negative is under-allocated)",
            attr="gap_assistant",
        ),
        Field("under_allocated", BOOL_T + " (a gap is negative)", get=_under),
        Field("over_allocated", BOOL_T + " (a gap is positive)", get=_over),
    ),
)

OVERVIEW_CLASS = Schema(
    "overview class line",
    (
        Field("trinn", INT_T),
        Field("class_name", STR_T),
        Field("students", INT_T + " (active students)"),
        Field("students_with_vedtak", INT_T + " (with a vedtak in force)"),
        Field("class_minutes_per_week", INT_T + " (assigned to the class)", attr="class_minutes"),
        Field(
            "student_minutes_per_week",
            INT_T + " (assigned to its students one by one)",
            attr="student_minutes",
        ),
        Field("staff_minutes_per_week", INT_T + " (class + students)", attr="staff_minutes"),
        Field("vedtak", "", of=OVERVIEW_VEDTAK),
    ),
)

OVERVIEW_TRINN = Schema(
    "overview trinn line",
    (
        Field("trinn", INT_T),
        Field("students", INT_T, get=lambda t: sum(c.students for c in t.classes)),
        Field(
            "students_with_vedtak",
            INT_T,
            get=lambda t: sum(c.students_with_vedtak for c in t.classes),
        ),
        Field(
            "trinn_minutes_per_week",
            INT_T + " (assigned to the trinn as a whole)",
            attr="trinn_minutes",
        ),
        Field("staff_minutes_per_week", INT_T + " (trinn + its classes)", attr="staff_minutes"),
        Field("classes", "", of=OVERVIEW_CLASS),
    ),
)

OVERVIEW_MEMBER = Schema(
    "overview team member",
    (
        Field("member_id", STR_T),
        Field("profession", STR_T),
        Field("coordinator", BOOL_T),
        Field(
            "capacity_minutes_per_week",
            INT_T + " (the position on the day)",
            attr="capacity",
        ),
        Field("allocated_minutes_per_week", INT_T, attr="allocated"),
        Field(
            "free_minutes_per_week",
            INT_T + " (capacity - allocated; negative is over-allocated)",
            attr="free",
        ),
        Field("over_allocated", BOOL_T, get=lambda m: m.free < 0),
    ),
)

OVERVIEW_AGENDA = Schema(
    "overview pending agenda item",
    (
        Field("item_id", UUID_T),
        Field("meeting_id", UUID_T),
        Field("meeting_kind", STR_T),
        Field("scheduled_at", INSTANT_T),
        Field("subject_kind", STR_T),
        Field("student_id", nullable(UUID_T) + " (null when anonymous or not about a student)"),
        Field("trinn", nullable(INT_T)),
        Field("class_name", nullable(STR_T)),
    ),
)

OVERVIEW_CONCERN = Schema(
    "overview open concern",
    (
        Field("concern_id", UUID_T),
        Field("student_id", UUID_T),
        Field("raised_at", INSTANT_T),
    ),
)

OVERVIEW_ACTION = Schema(
    "overview open action",
    (
        Field("decision_id", UUID_T),
        Field("meeting_id", UUID_T),
        Field("student_id", nullable(UUID_T)),
        Field("responsible", STR_T),
        Field("due", DATE_T),
        Field("overdue", BOOL_T + " (due before the overview's day)"),
    ),
)

OVERVIEW_PLAN = Schema(
    "overview plan due",
    (
        Field("plan_id", UUID_T),
        Field("student_id", UUID_T),
        Field("evaluation_date", DATE_T),
    ),
)

OVERVIEW_REFERRAL = Schema(
    "overview pending referral",
    (
        Field("referral_id", UUID_T),
        Field("student_id", UUID_T),
        Field("body", STR_T),
        Field("status", STR_T),
        Field("made_on", DATE_T),
    ),
)

OVERVIEW_CONSENT = Schema(
    "overview arbeidslag consent check",
    (
        Field("meeting_id", UUID_T),
        Field("item_id", UUID_T),
        Field("student_id", UUID_T),
        Field("meeting_date", DATE_T),
        Field("bodies", array(STR_T) + " (external bodies at the meeting)"),
        Field("missing", array(STR_T) + " (bodies the student's consent does not cover)"),
        Field("covered", BOOL_T + " (nothing is missing)"),
    ),
)

OVERVIEW = Schema(
    "overview",
    (
        Field("school", STR_T + " (the school's code)"),
        Field("on", DATE_T + " (the day the overview is for)"),
        Field("trinn", nullable(INT_T) + " (null: every trinn)"),
        Field("last_ressursteam_at", nullable(INSTANT_T) + " (when the last one was held)"),
        Field("trinn_lines", "", of=OVERVIEW_TRINN),
        Field(
            "sfo_minutes_per_week",
            INT_T + " (assigned to SFO)",
            get=lambda o: o.school_wide_minutes.get("sfo", 0),
        ),
        Field(
            "school_minutes_per_week",
            INT_T + " (assigned to school-wide work)",
            get=lambda o: o.school_wide_minutes.get("school", 0),
        ),
        Field(
            "staff_minutes_per_week",
            INT_T + " (trinn lines + SFO + school-wide)",
            get=overview_staff_minutes,
        ),
        Field("team", "", of=OVERVIEW_MEMBER),
        Field("pending_items", "", of=OVERVIEW_AGENDA),
        Field("open_concerns", "", of=OVERVIEW_CONCERN),
        Field("open_actions", "", of=OVERVIEW_ACTION),
        Field("plans_due", "", of=OVERVIEW_PLAN),
        Field("pending_referrals", "", of=OVERVIEW_REFERRAL),
        Field(
            "observations_since_ressursteam",
            "",
            get=lambda o: _counts(o.observations_by_category),
            of=Schema(
                "category count",
                (Field("category", STR_T, attr="key"), Field("count", INT_T)),
            ),
        ),
        Field("arbeidslag_consent", "", of=OVERVIEW_CONSENT),
        Field(
            "changes_since_ressursteam",
            "",
            get=lambda o: _counts(o.changes_since_ressursteam),
            of=Schema(
                "event type count",
                (
                    Field("event_type", STR_T + ', e.g. "Student.ObservationRecorded"', attr="key"),
                    Field("count", INT_T),
                ),
            ),
        ),
    ),
)

# -- history and the access log ---------------------------------------------------------------

HISTORY_ENTRY = Schema(
    "history entry",
    (
        Field("position", INT_T + " (in the store's total order)"),
        Field("stream_id", UUID_T),
        Field("version", INT_T),
        Field("event_type", STR_T + ', e.g. "Student.ObservationRecorded"'),
        Field("recorded_at", INSTANT_T),
        Field("effective", STR_T + " (ISO date or instant: when it took effect)"),
        Field("actor_id", STR_T),
        Field("actor_role", STR_T),
        Field("summary", STR_T + " (no personal data)"),
    ),
)

HISTORY_STATE = Schema(
    "history state",
    (
        Field("trinn", INT_T),
        Field("class_name", STR_T),
        Field("is_active", BOOL_T),
        Field("observation_count", INT_T, get=lambda case: len(case.observations)),
        Field("concern_count", INT_T, get=lambda case: len(case.concerns)),
        Field("consents", "", of=CONSENT),
        Field("referrals", "", of=REFERRAL),
        Field("plans", "", of=PLAN),
        Field("version", INT_T + " (the student stream's version then)"),
    ),
)

HISTORY = Schema(
    "history",
    (
        Field("student_id", UUID_T, given=True),
        Field("school_code", STR_T, given=True),
        Field("as_of", nullable(INSTANT_T) + " (--as-of; null: everything recorded)", given=True),
        Field("entries", "", of=HISTORY_ENTRY, given=True),
        Field(
            "state",
            nullable("object")
            + " (with --as-of: the case as recorded then; null without --as-of or when the "
            "student was not registered yet)",
            one=HISTORY_STATE,
            given=True,
        ),
    ),
)

ACCESS_ENTRY = Schema(
    "access log entry",
    (
        Field("read_at", INSTANT_T),
        Field("reader_id", STR_T),
        Field("reader_role", STR_T),
        Field("what", STR_T + ' ("case", "history", "vedtak", ...)'),
        Field("break_glass", BOOL_T + " (read by a role that needed a stated reason)"),
        Field("reason", nullable(STR_T) + " (the reason the reader gave)"),
    ),
)

ACCESS_LOG = Schema(
    "audit access",
    (
        Field("student_id", UUID_T, given=True),
        Field("school_code", STR_T, given=True),
        Field("reads", "", of=ACCESS_ENTRY, given=True),
    ),
)


#: Every documented JSON document, in the order docs/cli.md lists them.
ALL_SCHEMAS: Final = (
    WRITE_RESULT,
    IMPORT_REPORT,
    NOTICE_RESULT,
    ERASE_RESULT,
    STORE_INIT,
    STORE_INFO,
    STORE_REBUILD,
    SCHOOL,
    STUDENT_SUMMARY,
    STUDENT_CASE,
    VEDTAK,
    TEAM,
    MEETING,
    OVERVIEW,
    HISTORY,
    ACCESS_LOG,
)


# ---------------------------------------------------------------------------------------------
# Text output
# ---------------------------------------------------------------------------------------------


def text(value: Any) -> str:
    """A value as shown in a table cell."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, datetime):
        return value.astimezone(SCHOOL_TIMEZONE).isoformat(timespec="minutes")
    if isinstance(value, list | tuple):
        return ", ".join(text(v) for v in value) or "-"
    return " ".join(str(value).split())


def hours_text(minutes: int) -> str:
    """Exact minutes as hours: ``22800`` -> ``380 h``, ``450`` -> ``7 h 30 min``."""
    whole, rest = divmod(minutes, 60)
    return f"{whole} h" if rest == 0 else f"{whole} h {rest} min"


def clock_text(minutes: int, *, signed: bool = False) -> str:
    """Minutes as ``h:mm`` (the overview's hours): ``450`` -> ``7:30``; ``signed`` adds ``+``."""
    sign = "-" if minutes < 0 else ("+" if signed and minutes > 0 else "")
    whole, rest = divmod(abs(minutes), 60)
    return f"{sign}{whole}:{rest:02d}"


def competence_text(hours: HoursByCompetence | None) -> str:
    if hours is None:
        return "-"
    parts = [
        f"{key.replace('_', ' ')} {hours_text(value)}"
        for key, value in hours.to_dict().items()
        if value
    ]
    return ", ".join(parts) or "0 h"


def pairs(rows: Iterable[tuple[str, Any]]) -> str:
    """``key: value`` lines with aligned values."""
    items = [(key, text(value)) for key, value in rows]
    width = max((len(key) for key, _ in items), default=0)
    return "\n".join(f"{key + ':':<{width + 1}} {value}" for key, value in items)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table (``(none)`` when empty)."""
    if not rows:
        return "  (none)"
    cells = [[text(cell) for cell in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(headers)]
    lines = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  " + "  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
    return "\n".join(lines)


def section(title: str, body: str) -> str:
    return f"\n{title}\n{body}"


def report(
    as_json: bool,
    action: str,
    message: str,
    *,
    new_id: UUID | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Tell the user what a write command recorded (a line of text, or the write result)."""
    if as_json:
        document = {"action": action, "id": plain(new_id)}
        document.update({key: plain(value) for key, value in (extra or {}).items()})
        emit_json(document)
    else:
        click.echo(message if new_id is None else f"{message}: {new_id}")
