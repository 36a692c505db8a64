"""The shared value checks of domain.values: identifiers match whole strings, free text is
storable Unicode without control characters, dates and instants lie in the years the domain
accepts, hours convert to minutes exactly or not at all."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Final

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidValue
from domain.student import check_student_number
from domain.values import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    Actor,
    HoursByCompetence,
    check_class_name,
    check_date,
    check_optional_date,
    check_person_id,
    check_school_code,
    check_text,
    has_control_characters,
    local_date,
    minutes_of_hours,
    require_aware,
)

# ---------------------------------------------------------------------------------------------
# Identifiers: the whole string, never "up to a final newline"
# ---------------------------------------------------------------------------------------------

IDENTIFIER_CHECKS: Final = {
    "person id": (check_person_id, "gj-mt1"),
    "school code": (check_school_code, "gjesdal"),
    "class name": (check_class_name, "8a"),
    "student number": (check_student_number, "S-1"),
}


@pytest.mark.parametrize("what", sorted(IDENTIFIER_CHECKS))
def test_identifier_checks_accept_the_plain_value(what: str) -> None:
    check, good = IDENTIFIER_CHECKS[what]
    assert check(good) == good


@pytest.mark.parametrize("what", sorted(IDENTIFIER_CHECKS))
@pytest.mark.parametrize(
    ("before", "after"),
    [("", "\n"), ("\n", ""), ("", "\r\n"), ("", "\n\n"), ("", "\x00"), ("", "\u2028")],
    ids=["final-newline", "first-newline", "crlf", "two-newlines", "nul", "line-separator"],
)
def test_identifier_checks_refuse_a_line_break_before_or_after(
    what: str, before: str, after: str
) -> None:
    check, good = IDENTIFIER_CHECKS[what]
    with pytest.raises(InvalidValue) as refused:
        check(before + good + after)
    assert refused.value.what == what


def test_an_actor_with_a_newline_in_the_person_id_is_refused() -> None:
    with pytest.raises(InvalidValue, match="person id"):
        Actor.parse("miljokoordinator:gj-mt1\n")


@settings(max_examples=300)
@given(st.text(max_size=25))
def test_student_numbers_are_accepted_exactly_when_the_whole_string_has_the_form(
    text: str,
) -> None:
    form = len(text) in range(1, 21) and all(
        c.isascii() and (c.isalnum() or c == "-") for c in text
    )
    try:
        check_student_number(text)
    except InvalidValue:
        assert not form
    else:
        assert form


# ---------------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        f"{chr(0xDCE6)}rlig",
        f"ok {chr(0xDCC3)}",
        chr(0xD800),
        chr(0xDFFF),
        f"a{chr(0xD83D)}",
        f"{chr(0xDE00)}b",
    ],
    ids=["latin-1-ae", "cut-utf8", "first-surrogate", "last-surrogate", "high-alone", "low-alone"],
)
def test_check_text_refuses_lone_surrogates(text: str) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_text(f"Hemmelig {text}", "observation text")
    assert refused.value.what == "observation text"
    assert "UTF-8" in refused.value.reason
    assert "Hemmelig" not in str(refused.value)


def test_check_text_accepts_any_script_and_emoji() -> None:
    text = "Ærlig Øyvind på Å 😀 \u0928\u092e\u0938\u094d\u0924\u0947\tny linje\nslutt"
    assert check_text(text, "observation text") == text


@settings(max_examples=300)
@given(st.text(alphabet=st.one_of(st.characters(), st.characters(categories=["Cs"]))))
def test_accepted_text_can_always_be_stored(text: str) -> None:
    """Whatever check_text accepts, the event transcoder (orjson) can encode."""
    try:
        check_text(text, "note", required=False)
    except InvalidValue:
        return
    assert orjson.loads(orjson.dumps(text)) == text


@pytest.mark.parametrize("code", [*range(9), 11, 12, *range(14, 32), 127])
def test_control_characters_are_refused_also_those_split_treats_as_space(code: int) -> None:
    assert has_control_characters(f"Åse{chr(code)}Nordmæla")
    with pytest.raises(InvalidValue, match="control characters"):
        check_text(f"Åse{chr(code)}Nordmæla", "student name")


@pytest.mark.parametrize("allowed", ["\t", "\n", "\u00a0", "\u2003", " "])
def test_tab_newline_and_spaces_are_not_control_characters(allowed: str) -> None:
    assert not has_control_characters(f"Åse{allowed}Nordmæla")


# ---------------------------------------------------------------------------------------------
# Dates and instants
# ---------------------------------------------------------------------------------------------

FIRST_DAY: Final = date(EARLIEST_YEAR, 1, 1)
LAST_DAY: Final = date(LATEST_YEAR, 12, 31)


def test_the_year_bounds_are_the_documented_ones() -> None:
    assert (EARLIEST_YEAR, LATEST_YEAR) == (1900, 2200)


@pytest.mark.parametrize("day", [FIRST_DAY, date(2024, 8, 19), LAST_DAY])
def test_check_date_accepts_dates_in_the_years(day: date) -> None:
    assert check_date(day, "valid from") == day
    assert check_optional_date(day, "valid to") == day


@pytest.mark.parametrize(
    "day",
    [date.min, FIRST_DAY - timedelta(days=1), LAST_DAY + timedelta(days=1), date.max],
    ids=["date-min", "day-before", "day-after", "date-max"],
)
def test_check_date_refuses_dates_outside_the_years(day: date) -> None:
    with pytest.raises(InvalidValue) as refused:
        check_date(day, "valid from")
    assert str(refused.value) == "invalid valid from: must lie in the years 1900-2200"


def test_check_date_refuses_what_is_not_a_calendar_date() -> None:
    for value in (datetime(2024, 8, 19, tzinfo=UTC), "2024-08-19", 20240819, None):
        with pytest.raises(InvalidValue, match="must be a calendar date"):
            check_date(value, "valid from")  # type: ignore[arg-type]
    assert check_optional_date(None, "valid to") is None


PLUS_ONE: Final = timezone(timedelta(hours=1))
MINUS_ONE: Final = timezone(timedelta(hours=-1))


@pytest.mark.parametrize(
    "instant",
    [
        datetime.min.replace(tzinfo=PLUS_ONE),  # before year 1 in UTC: OverflowError
        datetime.max.replace(tzinfo=MINUS_ONE),  # after date.max in UTC: OverflowError
        datetime.min.replace(tzinfo=UTC),
        datetime.max.replace(tzinfo=UTC),
        datetime(EARLIEST_YEAR - 1, 12, 31, 23, 59, tzinfo=UTC),
        datetime(LATEST_YEAR + 1, 1, 1, tzinfo=UTC),
        datetime(EARLIEST_YEAR, 1, 1, 0, 30, tzinfo=PLUS_ONE),  # 1899 in UTC
        datetime(LATEST_YEAR, 12, 31, 23, 30, tzinfo=MINUS_ONE),  # 2201 in UTC
    ],
    ids=[
        "min-plus-one",
        "max-minus-one",
        "min-utc",
        "max-utc",
        "1899",
        "2201",
        "1899-in-utc",
        "2201-in-utc",
    ],
)
def test_require_aware_refuses_instants_outside_the_years(instant: datetime) -> None:
    with pytest.raises(InvalidValue) as refused:
        require_aware(instant, "observed time")
    assert str(refused.value) == "invalid observed time: must lie in the years 1900-2200"


def test_require_aware_converts_to_utc_inside_the_years() -> None:
    instant = datetime(2024, 9, 2, 10, 15, tzinfo=timezone(timedelta(hours=2)))
    assert require_aware(instant, "observed time") == datetime(2024, 9, 2, 8, 15, tzinfo=UTC)
    first = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)
    assert require_aware(first, "t") == first
    last = datetime(LATEST_YEAR, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert require_aware(last, "t") == last


@pytest.mark.parametrize("value", [datetime(2024, 9, 2, 10, 15), date(2024, 9, 2), "2024-09-02"])
def test_require_aware_refuses_naive_and_non_instants(value: object) -> None:
    with pytest.raises(InvalidValue, match="must be a timezone-aware instant"):
        require_aware(value, "observed time")  # type: ignore[arg-type]


def test_local_date_still_reads_instants_stored_outside_the_years() -> None:
    """Stored events are read as they are: the year bounds apply to what comes in."""
    assert local_date(datetime(1850, 6, 1, 12, tzinfo=UTC)) == date(1850, 6, 1)
    assert local_date(datetime(2024, 12, 31, 23, 30, tzinfo=UTC)) == date(2025, 1, 1)


def test_local_date_of_an_instant_before_year_one_in_utc_is_an_invalid_value() -> None:
    with pytest.raises(InvalidValue):
        local_date(datetime.min.replace(tzinfo=PLUS_ONE))


# ---------------------------------------------------------------------------------------------
# Hours
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [
        ("7.5", 450),
        (Decimal("0.25"), 15),
        (380, 22_800),
        ("0", 0),
        ("1.50000000000000000000000000000000000", 90),
        ("99999999999", 5_999_999_999_940),
    ],
)
def test_minutes_of_hours_is_exact(hours: Decimal | int | str, minutes: int) -> None:
    assert minutes_of_hours(hours, "hours") == minutes


@pytest.mark.parametrize(
    ("hours", "reason"),
    [
        ("9e999999999", "is too large"),
        ("9E+999999", "is too large"),
        ("1" + "0" * 40, "is too large"),
        ("1e12", "is too large"),
        ("1e-999999999", "must be a whole number of minutes"),
        ("0.001", "must be a whole number of minutes"),
        ("7.5" + "0" * 80 + "1", "must be a whole number of minutes"),
        ("-1", "must not be negative"),
        ("NaN", "must be a finite number"),
        ("-Infinity", "must be a finite number"),
        ("syv", "must be a number"),
        ("7,5", "must be a number"),
        (True, "must be a number"),
    ],
)
def test_minutes_of_hours_refuses_what_is_not_exact_whole_minutes(
    hours: Decimal | int | str, reason: str
) -> None:
    with pytest.raises(InvalidValue) as refused:
        minutes_of_hours(hours, "hours for teacher")
    assert (refused.value.what, refused.value.reason) == ("hours for teacher", reason)


def test_from_hours_refuses_huge_and_tiny_exponents() -> None:
    with pytest.raises(InvalidValue, match="too large"):
        HoursByCompetence.from_hours(teacher="9e999999999")
    with pytest.raises(InvalidValue, match="whole number of minutes"):
        HoursByCompetence.from_hours(teacher="1e-999999999")  # was silently 0 minutes
    assert HoursByCompetence.from_hours(miljoterapeut="7.5").miljoterapeut == 450


@settings(max_examples=300)
@given(st.decimals(allow_nan=True, allow_infinity=True))
def test_minutes_of_hours_either_refuses_or_is_exact(hours: Decimal) -> None:
    try:
        minutes = minutes_of_hours(hours, "hours")
    except InvalidValue:
        return
    assert Decimal(minutes) == hours * 60
