"""Value objects and vocabularies shared by every aggregate.

Conventions (see docs/adr/0003-event-schema.md):

* Enumerations are ``StrEnum``; events store their ``.value`` (a plain ``str``) so the
  wire format never depends on a Python class, and aggregates convert back on apply.
* Hours are exact: integer **minutes** (per week for allocations, per year for vedtak).
* Dates are ``datetime.date``; instants are timezone-aware UTC ``datetime`` objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from decimal import Context, Decimal, DecimalException, Inexact, InvalidOperation, Overflow
from enum import StrEnum
from typing import Final
from uuid import UUID
from zoneinfo import ZoneInfo

import attrs

from domain.errors import InvalidValue

# ---------------------------------------------------------------------------------------------
# Time helpers
# ---------------------------------------------------------------------------------------------

MINUTES_PER_HOUR: Final = 60
FULL_TIME_MINUTES_PER_WEEK: Final = 37 * 60 + 30  # 37.5 h, the Norwegian full-time week


#: Dates and instants that come into the domain lie in these years (inclusive). Far wider than
#: any school year, and far enough from ``date.min``/``date.max`` that week arithmetic (a
#: Monday, the next week) and time-zone conversion can never overflow.
EARLIEST_YEAR: Final = 1900
LATEST_YEAR: Final = 2200
_YEARS: Final = f"must lie in the years {EARLIEST_YEAR}-{LATEST_YEAR}"


def _in_years(value: date) -> bool:
    return EARLIEST_YEAR <= value.year <= LATEST_YEAR


def check_date(value: date, what: str) -> date:
    """A calendar date (not a ``datetime``) in the years :data:`EARLIEST_YEAR` to
    :data:`LATEST_YEAR`; use it for every date that comes into the domain."""
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidValue(what, "must be a calendar date")
    if not _in_years(value):
        raise InvalidValue(what, _YEARS)
    return value


def check_optional_date(value: date | None, what: str) -> date | None:
    return None if value is None else check_date(value, what)


def _to_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(what, "must be a timezone-aware instant")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+01:00 falls before year 1 in UTC
        raise InvalidValue(what, _YEARS) from None


def require_aware(value: datetime, what: str) -> datetime:
    """Return ``value`` converted to UTC, or raise if it is naive or outside the years
    :data:`EARLIEST_YEAR` to :data:`LATEST_YEAR` (as given, and in UTC)."""
    utc = _to_utc(value, what)
    if not (_in_years(value) and _in_years(utc)):
        raise InvalidValue(what, _YEARS)
    return utc


#: Norwegian schools keep Norwegian dates: "today", a meeting's date and the date of an
#: instant are taken in this zone. Instants themselves are stored in UTC.
SCHOOL_TIMEZONE: Final = ZoneInfo("Europe/Oslo")


def local_date(instant: datetime) -> date:
    """The Norwegian calendar date of an aware instant."""
    # Not require_aware: this also reads instants stored before the year bounds existed.
    return _to_utc(instant, "instant").astimezone(SCHOOL_TIMEZONE).date()


def iso_week_monday(day: date) -> date:
    """The Monday of the ISO week that ``day`` falls in."""
    return day - timedelta(days=day.isoweekday() - 1)


def iso_week_label(day: date) -> str:
    """``2024-W37`` style label of the ISO week containing ``day``."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


# ---------------------------------------------------------------------------------------------
# Identifiers
# ---------------------------------------------------------------------------------------------

# Always ``fullmatch``: with ``match``, a pattern ending in ``$`` also accepts a final newline
# (``"gjesdal\n"`` would be a second school).
_PERSON_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_SCHOOL_CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,39}")
_CLASS_NAME = re.compile(r"[0-9A-Za-zÆØÅæøå][0-9A-Za-zÆØÅæøå ._-]{0,15}")


def check_person_id(value: str) -> str:
    """Person ids are opaque, pseudonymous staff identifiers (never names)."""
    if not isinstance(value, str) or not _PERSON_ID.fullmatch(value):
        raise InvalidValue(
            "person id", "must be 1-64 characters of a-z, 0-9, '.', '_' or '-' (no names)"
        )
    return value


def check_school_code(value: str) -> str:
    if not isinstance(value, str) or not _SCHOOL_CODE.fullmatch(value):
        raise InvalidValue("school code", "must be 2-40 characters of a-z, 0-9 or '-'")
    return value


def check_class_name(value: str) -> str:
    if not isinstance(value, str) or not _CLASS_NAME.fullmatch(value):
        raise InvalidValue("class name", "must be 1-16 letters, digits, spaces, '.', '_' or '-'")
    return value


MIN_TRINN: Final = 1
MAX_TRINN: Final = 13  # Vg1-Vg3 are 11-13


def check_trinn(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TRINN <= value <= MAX_TRINN:
        raise InvalidValue("trinn", f"must be a whole number from {MIN_TRINN} to {MAX_TRINN}")
    return value


MAX_TEXT_LENGTH: Final = 20_000


def is_control_character(ch: str) -> bool:
    """The characters free text may not hold: C0 controls other than newline and tab, and DEL.
    (Vertical tab, form feed and the separators FS-US count, though ``str.split`` treats
    them as white space.)"""
    return (ord(ch) < 32 and ch not in "\n\t") or ord(ch) == 127


#: Exactly the characters :func:`is_control_character` refuses, for one scan in C.
_CONTROL_CHARACTERS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f]")


def has_control_characters(value: str) -> bool:
    return _CONTROL_CHARACTERS.search(value) is not None


def check_text(
    value: str, what: str, *, required: bool = True, limit: int = MAX_TEXT_LENGTH
) -> str:
    """Free text: bounded, no NUL or other control characters except newline and tab, and
    valid Unicode (no lone surrogates, which cannot be stored as UTF-8)."""
    if not isinstance(value, str):
        raise InvalidValue(what, "must be text")
    if required and not value.strip():
        raise InvalidValue(what, "must not be empty")
    if len(value) > limit:
        raise InvalidValue(what, f"must be at most {limit} characters")
    if has_control_characters(value):
        raise InvalidValue(what, "must not contain control characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (U+D800-U+DFFF): how Python passes on a command-line argument or a
        # file name that is not UTF-8 (PEP 383). Nothing can store or show them.
        raise InvalidValue(
            what, "must be valid UTF-8 text (was it written in another encoding?)"
        ) from None
    return value


#: Hours are converted exactly: a result that would need rounding (more digits than this
#: context holds, or below its smallest exponent) is refused, never rounded.
_EXACT: Final = Context(prec=64, traps=[InvalidOperation, Overflow, Inexact])
#: Far more hours than any allocation (a year has 8,784): larger numbers are refused before
#: any arithmetic, so ``9e999999999`` neither overflows nor builds a huge integer.
_MAX_HOURS_DIGITS: Final = 12


def minutes_of_hours(value: Decimal | int | str, what: str) -> int:
    """The exact whole minutes of ``value`` hours (``7.5`` is 450); refuses what is not a
    finite, non-negative number that comes to whole minutes."""
    if isinstance(value, bool):
        raise InvalidValue(what, "must be a number")
    try:
        hours = value if isinstance(value, Decimal) else Decimal(str(value))
    except (ArithmeticError, ValueError):
        raise InvalidValue(what, "must be a number") from None
    if not hours.is_finite():
        raise InvalidValue(what, "must be a finite number")
    if hours < 0:
        raise InvalidValue(what, "must not be negative")
    if hours and hours.adjusted() >= _MAX_HOURS_DIGITS:
        raise InvalidValue(what, "is too large")
    try:
        minutes = _EXACT.multiply(hours, MINUTES_PER_HOUR)
    except DecimalException:
        raise InvalidValue(what, "must be a whole number of minutes") from None
    if minutes != minutes.to_integral_value():
        raise InvalidValue(what, "must be a whole number of minutes")
    return int(minutes)


def check_minutes(value: int, what: str, *, allow_zero: bool = True, limit: int = 10**7) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidValue(what, "must be a whole number of minutes")
    if value < 0 or (value == 0 and not allow_zero) or value > limit:
        lower = 0 if allow_zero else 1
        raise InvalidValue(what, f"must be between {lower} and {limit} minutes")
    return value


# ---------------------------------------------------------------------------------------------
# Actors and roles
# ---------------------------------------------------------------------------------------------


class Role(StrEnum):
    """Roles a person acts in. Values are stored in events: never rename them."""

    REKTOR = "rektor"
    INSPEKTOR = "inspektor"
    SPESIALPEDAGOGISK_ANSVARLIG = "spesialpedagogisk_ansvarlig"
    MILJOKOORDINATOR = "miljokoordinator"
    MILJOTERAPEUT = "miljoterapeut"
    LAERER = "laerer"
    AUDITOR = "auditor"
    ADMIN = "admin"


def _school_codes(value: Iterable[str]) -> frozenset[str]:
    """An actor's schools: valid school codes, frozen (a bare string is refused, not split)."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise InvalidValue("actor schools", "must be a collection of school codes")
    return frozenset(check_school_code(code) for code in value)


@attrs.frozen
class Actor:
    """Who performs a command: an opaque person id, the role they act in and the schools they
    act for (codes). The embedding application authenticates the person and knows where they
    work; the core only reads these fields. Whether a role is bound to its schools or acts for
    the whole municipality is the access policy's rule (``domain.policy.in_school_scope``).
    Events record the person id and role only, never the schools."""

    person_id: str = attrs.field(converter=check_person_id)
    role: Role = attrs.field(converter=Role)
    schools: frozenset[str] = attrs.field(
        default=frozenset(), converter=_school_codes, kw_only=True
    )

    @classmethod
    def parse(cls, text: str) -> Actor:
        """Parse ``ROLE:PERSON-ID[@SCHOOL[,SCHOOL...]]`` (the CLI's ``--as`` format), e.g.
        ``miljokoordinator:p-17@gjesdal``. Only the format is checked here; whether the role
        needs schools is the CLI's and the policy's concern."""
        role, sep, rest = text.partition(":")
        if not sep:
            raise InvalidValue(
                "actor", "must look like ROLE:PERSON-ID@SCHOOL, e.g. miljokoordinator:p-17@gjesdal"
            )
        person, at, codes = rest.partition("@")
        try:
            parsed_role = Role(role)
        except ValueError:
            roles = ", ".join(r.value for r in Role)
            raise InvalidValue("actor role", f"must be one of: {roles}") from None
        schools: list[str] = []
        if at:
            schools = codes.split(",")
            if not all(schools):
                raise InvalidValue(
                    "actor schools", "must be school codes separated by commas after '@'"
                )
        return cls(person_id=person, role=parsed_role, schools=schools)


# ---------------------------------------------------------------------------------------------
# Vocabularies
# ---------------------------------------------------------------------------------------------


class Arena(StrEnum):
    CLASSROOM = "classroom"
    BREAK = "break"
    SFO = "sfo"
    WAY_TO_SCHOOL = "way_to_school"
    HOME = "home"
    ONLINE = "online"
    OTHER = "other"


class ObservationCategory(StrEnum):
    WELLBEING = "wellbeing"
    SOCIAL = "social"
    CONFLICT = "conflict"
    BULLYING = "bullying"
    ABSENCE = "absence"
    BEHAVIOUR = "behaviour"
    LEARNING = "learning"
    FAMILY = "family"
    HEALTH = "health"
    OTHER = "other"


class ExternalBody(StrEnum):
    """External services a school refers to or meets."""

    PPT = "ppt"
    BUP = "bup"
    DPS = "dps"
    BARNEVERN = "barnevern"
    PSYKISK_HELSE = "psykisk_helse"
    FAMILIEVERN = "familievern"
    NAV = "nav"
    SLT = "slt"
    OTHER = "other"


class MeetingKind(StrEnum):
    RESSURSTEAM = "ressursteam"
    ARBEIDSLAG = "arbeidslag"
    TEAMMOTE = "teammote"
    MORGENMOTE = "morgenmote"
    OVERGANGSMOTE = "overgangsmote"
    UTVIKLINGSSAMTALE = "utviklingssamtale"
    ELEVTJENESTE = "elevtjeneste"


class Competence(StrEnum):
    """Staff competence that PPT recommends and a vedtak grants hours of."""

    TEACHER = "teacher"
    SPECIAL_ED_TEACHER = "special_ed_teacher"
    MILJOTERAPEUT = "miljoterapeut"
    ASSISTANT = "assistant"


class Profession(StrEnum):
    BARNEVERNSPEDAGOG = "barnevernspedagog"
    SOSIONOM = "sosionom"
    VERNEPLEIER = "vernepleier"
    MILJOARBEIDER = "miljoarbeider"
    FAGARBEIDER = "fagarbeider"
    ASSISTENT = "assistent"

    @property
    def competence(self) -> Competence:
        """The vedtak competence this profession's hours count as."""
        if self in (Profession.BARNEVERNSPEDAGOG, Profession.SOSIONOM, Profession.VERNEPLEIER):
            return Competence.MILJOTERAPEUT
        return Competence.ASSISTANT


# ---------------------------------------------------------------------------------------------
# Hours by competence
# ---------------------------------------------------------------------------------------------


def _non_negative_minutes(_: object, attribute: attrs.Attribute[int], value: int) -> None:
    check_minutes(value, f"hours for {attribute.name}")


@attrs.frozen
class HoursByCompetence:
    """Minutes per year by competence (a vedtak's or a PPT recommendation's hours)."""

    teacher: int = attrs.field(default=0, validator=_non_negative_minutes)
    special_ed_teacher: int = attrs.field(default=0, validator=_non_negative_minutes)
    miljoterapeut: int = attrs.field(default=0, validator=_non_negative_minutes)
    assistant: int = attrs.field(default=0, validator=_non_negative_minutes)

    def to_dict(self) -> dict[str, int]:
        return {c.value: self.of(c) for c in Competence}

    @classmethod
    def from_dict(cls, data: Mapping[str, int]) -> HoursByCompetence:
        unknown = set(data) - {c.value for c in Competence}
        if unknown:
            raise InvalidValue("hours", f"unknown competence {sorted(unknown)[0]!r}")
        for key, value in data.items():
            check_minutes(value, f"hours for {key}")
        return cls(**{k: int(v) for k, v in data.items()})

    @classmethod
    def from_hours(cls, **hours: int | Decimal | str) -> HoursByCompetence:
        """Build from hours (exact decimals), e.g. ``from_hours(miljoterapeut=380)``."""
        minutes = {key: minutes_of_hours(value, f"hours for {key}") for key, value in hours.items()}
        return cls.from_dict(minutes)

    def of(self, competence: Competence) -> int:
        value: int = getattr(self, competence.value)
        return value

    @property
    def total(self) -> int:
        return self.teacher + self.special_ed_teacher + self.miljoterapeut + self.assistant

    def per_week(self, weeks_per_year: int = 38) -> HoursByCompetence:
        """Minutes per school week (38 teaching weeks a year), rounded down."""
        return HoursByCompetence(**{c.value: self.of(c) // weeks_per_year for c in Competence})


def position_minutes_per_week(position_percent: Decimal) -> int:
    """Weekly capacity of a position, in whole minutes (rounded down)."""
    return int(
        (FULL_TIME_MINUTES_PER_WEEK * position_percent / 100).to_integral_value(
            rounding="ROUND_FLOOR"
        )
    )


def check_position_percent(value: Decimal | int | str) -> Decimal:
    try:
        pct = Decimal(str(value))
    except ArithmeticError:
        raise InvalidValue("position percent", "must be a number") from None
    if not pct.is_finite() or pct <= 0 or pct > 100:
        raise InvalidValue("position percent", "must be more than 0 and at most 100")
    if pct != pct.quantize(Decimal("0.01")):
        raise InvalidValue("position percent", "must have at most two decimals")
    return pct


def check_period(valid_from: date, valid_to: date | None, what: str = "period") -> None:
    if valid_to is not None and valid_to < valid_from:
        raise InvalidValue(what, "must not end before it starts")


def uuid_or_none(value: str | None) -> UUID | None:
    return None if value is None else UUID(value)
