"""Parameter types and shared options: parse text into exact domain values.

Dates are ISO ``YYYY-MM-DD``; instants ISO 8601 with an offset, both in the years the domain
accepts (1900-2200, ``domain.values``); hours exact decimals that must come to whole minutes;
ids UUIDs. A malformed value is a usage error (exit code 2).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import click

from domain.errors import InvalidValue
from domain.values import (
    EARLIEST_YEAR,
    LATEST_YEAR,
    HoursByCompetence,
    minutes_of_hours,
)

F = TypeVar("F", bound=Callable[..., Any])

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def bad(
    message: str, param: click.Parameter | None, ctx: click.Context | None
) -> click.BadParameter:
    """A usage error (exit code 2) naming the parameter."""
    return click.BadParameter(message, ctx=ctx, param=param)


D = TypeVar("D", bound=date)


def _in_years(day: D, value: object, param: click.Parameter | None, ctx: click.Context | None) -> D:
    """``day`` if it lies in the years the domain accepts (a date or an instant)."""
    if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
        raise bad(f"{value!r} is not in the years {EARLIEST_YEAR}-{LATEST_YEAR}", param, ctx)
    return day


class IsoDate(click.ParamType[date]):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        if _DATE.fullmatch(text):
            try:
                day = date.fromisoformat(text)
            except ValueError:
                pass
            else:
                return _in_years(day, value, param, ctx)
        raise bad(f"{value!r} is not a date of the form YYYY-MM-DD", param, ctx)


class Instant(click.ParamType[datetime]):
    name = "INSTANT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        else:
            try:
                parsed = datetime.fromisoformat(str(value).strip())
            except ValueError:
                raise bad(
                    f"{value!r} is not an ISO 8601 instant, e.g. 2024-09-02T08:15:00+02:00",
                    param,
                    ctx,
                ) from None
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise bad(
                f"{value!r} has no UTC offset; write e.g. 2024-09-02T08:15:00+02:00", param, ctx
            )
        return _in_years(parsed, value, param, ctx)


class Id(click.ParamType[UUID]):
    name = "ID"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> UUID:
        if isinstance(value, UUID):
            return value
        try:
            return UUID(str(value).strip())
        except ValueError:
            raise bad(f"{value!r} is not an id (a UUID)", param, ctx) from None


def _decimal(text: str) -> Decimal | None:
    try:
        number = Decimal(text.strip().replace(",", ".", 1))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


class Hours(click.ParamType[Decimal]):
    """Hours as an exact decimal (``7.5``, ``380``); must be whole minutes and not negative."""

    name = "HOURS"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            number: Decimal | None = value
        else:
            number = _decimal(str(value))
        if number is None or number < 0:
            raise bad(f"{value!r} is not a number of hours (e.g. 7.5)", param, ctx)
        try:
            # Exact, and guarded: 9e999999999 must not overflow the decimal context.
            minutes_of_hours(number, "hours")
        except InvalidValue as error:
            raise bad(f"{value!r} hours {error.reason}", param, ctx) from None
        return number


class Percent(click.ParamType[Decimal]):
    name = "PERCENT"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> Decimal:
        if isinstance(value, Decimal):
            return value
        number = _decimal(str(value).removesuffix("%"))
        if number is None:
            raise bad(f"{value!r} is not a percentage (e.g. 85 or 42.5)", param, ctx)
        return number


ISO_DATE = IsoDate()
INSTANT = Instant()
ID = Id()
HOURS = Hours()
PERCENT = Percent()


def hours_to_minutes(hours: Decimal) -> int:
    """Exact conversion of validated hours (see :class:`Hours`) to whole minutes."""
    return minutes_of_hours(hours, "hours")


def choice(kind: type[StrEnum]) -> click.Choice[str]:
    """A click choice of a domain vocabulary's stored values."""
    return click.Choice([member.value for member in kind])


# ---------------------------------------------------------------------------------------------
# Shared options
# ---------------------------------------------------------------------------------------------


def json_option(function: F) -> F:
    """``--json``: print the stable JSON document (docs/cli.md) instead of text."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        help="Print JSON (stable schema, see docs/cli.md) instead of text.",
    )(function)


def school_option(function: F) -> F:
    return click.option(
        "--school",
        "school",
        required=True,
        metavar="CODE",
        help="The school's code, e.g. gjesdal.",
    )(function)


def student_arguments(function: F) -> F:
    """``--school CODE NUMBER``: a student is named by school and student number."""
    function = click.argument("number", metavar="NUMBER")(function)
    return school_option(function)


COMPETENCE_OPTIONS: tuple[tuple[str, str], ...] = (
    ("teacher", "teacher"),
    ("special-ed-teacher", "special_ed_teacher"),
    ("miljoterapeut", "miljoterapeut"),
    ("assistant", "assistant"),
)


def hours_options(per: str) -> Callable[[F], F]:
    """``--teacher``, ``--special-ed-teacher``, ``--miljoterapeut``, ``--assistant`` in hours."""

    def decorate(function: F) -> F:
        for flag, key in reversed(COMPETENCE_OPTIONS):
            function = click.option(
                f"--{flag}",
                key,
                type=HOURS,
                default=Decimal(0),
                show_default=False,
                help=f"Hours {per} of {key.replace('_', ' ')} competence (default 0).",
            )(function)
        return function

    return decorate


def hours_by_competence(
    *, teacher: Decimal, special_ed_teacher: Decimal, miljoterapeut: Decimal, assistant: Decimal
) -> HoursByCompetence:
    """The exact minutes of the four competence options' hours."""
    return HoursByCompetence.from_hours(
        teacher=teacher,
        special_ed_teacher=special_ed_teacher,
        miljoterapeut=miljoterapeut,
        assistant=assistant,
    )
