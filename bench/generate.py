"""Deterministic benchmark stores: the demo municipality, run on for ten school years.

A store of a given size is built in two phases, both through the embedding facade only:

1. **The demo** (``adapters.demo.build_demo``): ``scale`` copies of the seed report's three
   school models (Trudvang, Gjesdal, Strinda), their teams, students, vedtak, meetings and
   observations over the autumn term of 2024 (or its first weeks, for the small size).
2. **The following school years** (this module), until the store holds the target number of
   events: each August students move up a trinn, the last trinn leaves and a new first trinn
   is registered; every team member gets a yearly assignment (class, trinn or school-wide);
   a few students get a new vedtak (PPT recommendation, decision, notice, a miljøterapeut
   assigned under it) with a delivery recorded every Friday; every school holds a
   ressursteam meeting every ``meeting_every`` weeks (a class walk-through and the oldest
   open concerns, which become discussed); and every school day staff record observations,
   some of which raise a concern. One student (the *long-history student*) gets
   ``long_stream`` events spread over the years, for the as-of history measurement.

The observations fill whatever the structural events leave of the budget, spread evenly over
the remaining days, so a store spans its profile's school years whatever its size. Everything
random comes from ``random.Random`` seeded from the seed, ids from ``SeededIds(seed)`` and
time from a :class:`~adapters.demo.SimulatedClock`: the same seed, size and code give the same
events (ids, versions, recorded times and payloads).

Speed: the generator gives the facade's repository an aggregate cache without deep copies
(``Repository.cache``, ``deepcopy_from_cache = False``). That is safe here because the
generator is the only writer and never issues a command the rules refuse (any refusal aborts
the build), and it leaves the events unchanged. ``bench.run`` builds stores in a
``python -O`` subprocess on a RAM disk when it can, then moves them into the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, Final, TypeVar
from uuid import UUID

import attrs
from eventsourcing.application import LRUCache

from adapters.bootstrap import init_store, open_store, resolve_store
from adapters.demo import SeededIds, SimulatedClock, build_demo, local_instant
from domain.facade import Miljo
from domain.values import Actor, HoursByCompetence, position_minutes_per_week

T = TypeVar("T")

ROOT: Final = Path(__file__).resolve().parent.parent
STORE_NAME: Final = "store.sqlite"
MANIFEST: Final = "manifest.json"
#: Smallest gap between two commands on the simulated clock.
STEP: Final = timedelta(milliseconds=100)
WEEKS_PER_YEAR: Final = 38
FIRST_YEAR: Final = 2024  # the demo's school year (2024/25)
CACHE_SIZE: Final = 40_000  # aggregates kept by the generating process


@attrs.frozen
class Profile:
    """How a store of one size is built."""

    label: str
    events: int  # target number of events in the store
    scale: int  # copies of each of the three school models (3 x scale schools)
    students_factor: float  # of the seed's school sizes (330, 370 and 1100 students)
    demo_until: date  # last day simulated by the demo (autumn term 2024)
    years: int  # school years, 2024/25 included
    meeting_every: int  # weeks between two ressursteam meetings of a school
    vedtak_share: float  # students given a new vedtak each school year
    concern_share: float  # observations that also raise a concern
    long_stream: int  # events of the long-history student


#: Every size has schools of the same shape (65.4 % of the seed's school sizes, so that 51
#: schools hold ~20,000 students): the overview is measured on a school of the same size.
STUDENTS_FACTOR: Final = 0.654
AUTUMN_END: Final = date(2024, 12, 20)

PROFILES: Final[dict[str, Profile]] = {
    p.label: p
    for p in (
        # 3 schools, ~1,200 students; the demo runs one week; about one school year fits.
        Profile("10k", 10_000, 1, STUDENTS_FACTOR, date(2024, 8, 23), 2, 2, 0.03, 0.05, 1_000),
        # 6 schools, ~2,400 students, ten school years.
        Profile("100k", 100_000, 2, STUDENTS_FACTOR, AUTUMN_END, 10, 2, 0.02, 0.05, 10_000),
        # 51 schools, ~20,000 students, ten school years: the municipality of issue 7.
        Profile("1M", 1_000_000, 17, STUDENTS_FACTOR, AUTUMN_END, 10, 1, 0.03, 0.05, 10_000),
    )
}


def profile_for(label: str) -> Profile:
    try:
        return PROFILES[label]
    except KeyError:
        raise ValueError(f"unknown size {label!r}; choose from {', '.join(PROFILES)}") from None


# ---------------------------------------------------------------------------------------------
# The school calendar of the following years
# ---------------------------------------------------------------------------------------------


def year_end(first_day: date) -> date:
    """The last day of the school year that starts on ``first_day`` (20 June)."""
    return date(first_day.year + 1, 6, 20)


def school_year_days(year: int) -> list[date]:
    """School days of the school year starting in August ``year``: weekdays from the Monday
    of ISO week 34 to 20 June, without høstferie (ISO week 40), Christmas (21 Dec-2 Jan)
    and vinterferie (ISO week 8)."""
    first = date.fromisocalendar(year, 34, 1)
    last = date(year + 1, 6, 20)
    days = []
    day = first
    while day <= last:
        week = day.isocalendar().week
        christmas = (day.month == 12 and day.day > 20) or (day.month == 1 and day.day <= 2)
        if day.isoweekday() <= 5 and week not in (40, 8) and not christmas:
            days.append(day)
        day += timedelta(days=1)
    return days


def monday_after(day: date) -> date:
    return day + timedelta(days=8 - day.isoweekday())


# ---------------------------------------------------------------------------------------------
# Invented, pseudonymous vocabulary (no real people)
# ---------------------------------------------------------------------------------------------

FIRST_NAMES: Final = (
    "Åse",
    "Bjørn",
    "Eirin",
    "Frøya",
    "Gaute",
    "Hedda",
    "Ivar",
    "Jørgen",
    "Kaja",
    "Linnea",
    "Magnus",
    "Nora",
    "Ola",
    "Pernille",
    "Ravn",
    "Sølve",
    "Tiril",
    "Ulrik",
    "Vår",
    "Øystein",
)
LAST_NAMES: Final = (
    "Testesen",
    "Prøvedal",
    "Eksempelvik",
    "Fiktivlia",
    "Benkmark",
    "Målingstad",
    "Tallaksrud",
    "Lasterud",
    "Hurtigbø",
    "Tidtakersen",
)
OBSERVATION_TEXTS: Final = (
    "Uro i friminuttet; to elever kranglet om ballen og en voksen måtte gå imellom.",
    "Eleven satt alene i matpausen og ville ikke være med på aktiviteten etterpå.",
    "Eleven kom for sent og virket sliten; sa at det hadde vært en urolig kveld hjemme.",
    "Eleven deltok godt i gruppearbeidet og hjalp en medelev med oppgaven.",
    "Konflikt i garderoben etter gymtimen; ordnet opp med samtale med begge elevene.",
    "Eleven har vært borte tre dager denne uka uten at skolen har fått beskjed.",
    "Eleven fortalte om kommentarer i en gruppechat; skjermbilder ble vist til kontaktlærer.",
    "Rolig dag; eleven brukte avtalt pauserom én gang og kom tilbake til timen selv.",
)
STUDENT_VOICES: Final = (
    "Jeg vil ha noen å være sammen med i friminuttet.",
    "Det hjelper når jeg vet hva som skal skje i timen.",
    "Jeg liker å ha faste voksne.",
)
ARENAS: Final = ("classroom", "break", "sfo", "way_to_school", "online", "other")
CATEGORIES: Final = ("wellbeing", "social", "conflict", "bullying", "absence", "behaviour")


# ---------------------------------------------------------------------------------------------
# The manifest: what a built store holds, for the measurements
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class SchoolInfo:
    code: str
    model: str
    coordinator: str  # ROLE:PERSON-ID@SCHOOL
    rektor: str


@attrs.frozen
class Manifest:
    label: str
    seed: int
    code_version: str
    target: int
    events: int
    schools: int
    students: int  # active at the end
    first_day: str
    last_day: str
    end_instant: str  # the simulated clock at the end (ISO, UTC)
    long_student: str
    long_school: str
    long_events: int
    seconds: float  # generation time (0 if not built in this process)
    rate: float  # events per second while generating
    per_school: tuple[SchoolInfo, ...]

    def to_json(self) -> str:
        return json.dumps(attrs.asdict(self), indent=2, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Manifest:
        data: dict[str, Any] = json.loads(text)
        data["per_school"] = tuple(SchoolInfo(**s) for s in data["per_school"])
        return cls(**data)

    def school(self, model: str) -> SchoolInfo:
        """The first school of a model (``gjesdal``, ...), else the first school."""
        for info in self.per_school:
            if info.model == model:
                return info
        return self.per_school[0]

    def school_by_code(self, code: str) -> SchoolInfo:
        for info in self.per_school:
            if info.code == code:
                return info
        raise KeyError(code)


def actor_text(actor: Actor) -> str:
    """``ROLE:PERSON-ID[@SCHOOL,...]``, as ``Actor.parse`` reads it back."""
    schools = f"@{','.join(sorted(actor.schools))}" if actor.schools else ""
    return f"{actor.role.value}:{actor.person_id}{schools}"


# ---------------------------------------------------------------------------------------------
# The generator of the following school years
# ---------------------------------------------------------------------------------------------


class Full(Exception):
    """The store holds the target number of events: stop generating."""


class Progress:
    """Prints ``events / target`` with the rate to stderr, at most every ``every`` seconds."""

    def __init__(self, label: str, target: int, *, every: float = 2.0, quiet: bool = False):
        self.label = label
        self.target = target
        self.every = every
        self.quiet = quiet
        self.start = time.perf_counter()
        self._last = 0.0

    def __call__(self, events: int, *, final: bool = False) -> None:
        now = time.perf_counter()
        if self.quiet or (not final and now - self._last < self.every):
            return
        self._last = now
        elapsed = max(now - self.start, 1e-9)
        rate = events / elapsed
        left = max(self.target - events, 0) / rate if rate > 0 else 0.0
        share = 100 * events / self.target if self.target else 100.0
        line = (
            f"  generating {self.label}: {events:,} / {self.target:,} events ({share:.1f} %), "
            f"{rate:,.0f} events/s, {'done in' if final else 'about'} "
            f"{elapsed if final else left:,.0f} s"
        )
        print(line, file=sys.stderr, flush=True)


@attrs.define
class _Vedtak:
    vedtak_id: UUID
    student_id: UUID
    weekly: int  # miljøterapeut minutes per week
    valid_from: date
    valid_to: date


@attrs.define
class _School:
    code: str
    model: str
    coordinator: Actor
    rektor: Actor
    first_trinn: int
    last_trinn: int
    classes: dict[int, list[str]]  # trinn -> class names, sorted
    students: dict[UUID, tuple[int, str]]  # active students -> (trinn, class name)
    free: dict[str, int] = attrs.Factory(dict)  # member -> free minutes this school year
    vedtak: list[_Vedtak] = attrs.Factory(list)  # decided this school year
    open_concerns: list[tuple[UUID, UUID]] = attrs.Factory(list)  # (student, concern)
    cursor: int = 0  # next class for the ressursteam walk-through
    numbers: int = 0
    meeting: tuple[UUID, datetime] | None = None  # today's ressursteam and its start

    def all_classes(self) -> list[tuple[int, str]]:
        return [(t, c) for t in sorted(self.classes) for c in self.classes[t]]


class Generator:
    """Runs the school years after the demo on an open facade until the target is reached."""

    def __init__(
        self,
        miljo: Miljo,
        clock: SimulatedClock,
        profile: Profile,
        seed: int,
        *,
        progress: Callable[[int], None] | None = None,
        target: int | None = None,
    ) -> None:
        self.m = miljo
        self.clock = clock
        self.profile = profile
        self.target = profile.events if target is None else target
        self.rng = random.Random(f"miljo-bench:{seed}:{profile.label}")
        self.progress = progress
        self.count = miljo.event_count()
        self.structural = 0  # events of the yearly, weekly and vedtak work (not observations)
        self.schools: list[_School] = []
        self.long_student: UUID | None = None
        self.long_school: _School | None = None
        self.long_left = 0
        self.days_done = 0

    # -- machinery -----------------------------------------------------------------------------

    def phase(self, day: date, seconds: int) -> None:
        """Move the clock to local time ``seconds`` on ``day`` (or on, if already later)."""
        self.clock.move_to(max(self.clock.now() + STEP, local_instant(day, seconds)))

    def run(self, command: Callable[[], T], *, structural: bool = True) -> T:
        if self.count >= self.target:
            raise Full
        self.clock.advance(STEP)
        result = command()
        before, self.count = self.count, self.m.event_count()
        if structural:
            self.structural += self.count - before
        if self.progress is not None:
            self.progress(self.count)
        return result

    # -- set-up --------------------------------------------------------------------------------

    def adopt(self, per_school: Sequence[tuple[str, str, Actor, Actor]]) -> None:
        """Mirror the demo's schools: (code, model, coordinator, rektor)."""
        for code, model, coordinator, rektor in per_school:
            view = self.m.school(coordinator, code)
            classes: dict[int, list[str]] = {}
            for name, trinn in view.classes.items():
                classes.setdefault(trinn, []).append(name)
            students: dict[UUID, tuple[int, str]] = {}
            for student_id in self.m.students_of(coordinator, code):
                summary = self.m.student_summary(coordinator, student_id)
                if summary.is_active:
                    students[student_id] = (summary.trinn, summary.class_name)
            self.schools.append(
                _School(
                    code=code,
                    model=model,
                    coordinator=coordinator,
                    rektor=rektor,
                    first_trinn=view.first_trinn,
                    last_trinn=view.last_trinn,
                    classes={t: sorted(names) for t, names in classes.items()},
                    students=students,
                )
            )

    def days(self, after: date) -> list[date]:
        days: list[date] = []
        for year in range(FIRST_YEAR, FIRST_YEAR + self.profile.years):
            days.extend(d for d in school_year_days(year) if d > after)
        return days

    # -- the main loop -------------------------------------------------------------------------

    def generate(self, after: date) -> date:
        """Simulate school days after ``after`` until the target; returns the last day."""
        days = self.days(after)
        if not days:
            return after
        first_days = {
            school_year_days(y)[0] for y in range(FIRST_YEAR + 1, FIRST_YEAR + self.profile.years)
        }
        last = after
        try:
            self.phase(days[0], 7 * 3600)
            self.register_long_student(days[0])
            for n, day in enumerate(days):
                last = day
                self.day(day, len(days) - n, first_day=day in first_days)
        except Full:
            pass
        if self.progress is not None:
            self.progress(self.count)
        return last

    def day(self, day: date, days_left: int, *, first_day: bool) -> None:
        week = day.isocalendar().week
        meeting_day = day.isoweekday() == 2 and week % self.profile.meeting_every == 0
        if meeting_day:
            self.phase(day, 7 * 3600 + 45 * 60)
            for school in self.schools:
                self.schedule(school, day)
        if first_day:
            self.phase(day, 8 * 3600)
            for school in self.schools:
                self.new_school_year(school, day)
        if self.second_monday(day):
            self.phase(day, 9 * 3600 + 30 * 60)
            for school in self.schools:
                self.new_vedtak(school, day)
        self.phase(day, 10 * 3600)
        self.observations(day, days_left)
        if meeting_day:
            self.phase(day, 12 * 3600)
            for school in self.schools:
                self.hold(school)
            self.phase(day, 13 * 3600)
            for school in self.schools:
                self.close(school)
        if day.isoweekday() == 5:
            self.phase(day, 14 * 3600)
            for school in self.schools:
                self.deliveries(school, day)

    @staticmethod
    def second_monday(day: date) -> bool:
        """The Monday of a school year's second week (new vedtak are decided then)."""
        return day == date.fromisocalendar(day.year, 35, 1) and day.year > FIRST_YEAR

    # -- the long-history student --------------------------------------------------------------

    def register_long_student(self, day: date) -> None:
        school = self.schools[0]
        trinn = school.first_trinn
        class_name = school.classes[trinn][0]
        self.long_student = self.run(
            lambda: self.m.register_student(
                school.rektor,
                school=school.code,
                student_number="lang-0001",
                name="Lang Historiesen",
                trinn=trinn,
                class_name=class_name,
                registered_on=day,
            )
        )
        self.long_school = school
        self.long_left = max(self.profile.long_stream - 1, 0)

    # -- every day: observations and concerns --------------------------------------------------

    def estimate_structural(self, days_left: int) -> float:
        """Structural events still to come: the rate so far, or a plan-based guess early on."""
        students = sum(len(s.students) for s in self.schools)
        per_year = (
            students * 1.5
            + 15 * len(self.schools)
            + students * self.profile.vedtak_share * (7 + WEEKS_PER_YEAR)
            + len(self.schools) * (WEEKS_PER_YEAR / self.profile.meeting_every) * 12
        )
        planned = per_year * days_left / 190
        elapsed = self.days_done
        if elapsed < 190:
            return planned
        return self.structural / elapsed * days_left

    def observations(self, day: date, days_left: int) -> None:
        self.days_done += 1
        long_today = math.ceil(self.long_left / days_left) if self.long_left else 0
        room = self.target - self.count - self.long_left - self.estimate_structural(days_left)
        quota = max(0, round(room / days_left)) if room > 0 else 0
        # the long-history student's share of the day, interleaved with the others
        slots = ["long"] * long_today + ["other"] * quota
        self.rng.shuffle(slots)
        schools = [s for s in self.schools if s.students]
        weights = [len(s.students) for s in schools]
        for slot in slots:
            if slot == "long":
                self.observe(self.long_school or self.schools[0], self.long_student, long=True)
                continue
            school = self.rng.choices(schools, weights)[0]
            student = self.rng.choice(list(school.students))
            self.observe(school, student, long=False)
            if self.rng.random() < self.profile.concern_share:
                self.concern(school, student)

    def observe(self, school: _School, student: UUID | None, *, long: bool) -> None:
        if student is None:
            return
        at = self.clock.now()
        observed = at - timedelta(minutes=self.rng.randint(5, 180))
        voice = self.rng.choice(STUDENT_VOICES) if self.rng.random() < 0.1 else None
        categories = self.rng.sample(CATEGORIES, self.rng.choice((1, 1, 2)))
        self.run(
            lambda: self.m.record_observation(
                school.coordinator,
                student,
                arena=self.rng.choice(ARENAS),
                categories=categories,
                text=self.rng.choice(OBSERVATION_TEXTS),
                observed_at=observed,
                student_voice=voice,
            ),
            structural=False,
        )
        if long:
            self.long_left -= 1

    def concern(self, school: _School, student: UUID) -> None:
        concern_id = self.run(
            lambda: self.m.raise_concern(
                school.coordinator,
                student,
                summary="Gjentatte observasjoner; ønsker drøfting i ressursteamet.",
            )
        )
        school.open_concerns.append((student, concern_id))

    # -- each August: classes move up, the last trinn leaves, a new first trinn starts -------

    def new_school_year(self, school: _School, day: date) -> None:
        school.vedtak = []
        leaving = [s for s, (t, _) in school.students.items() if t == school.last_trinn]
        moving = [s for s, (t, _) in school.students.items() if t < school.last_trinn]
        for student in leaving:
            if student == self.long_student:
                continue
            self.run(partial(self.m.record_departure, school.rektor, student, kind="left", on=day))
            del school.students[student]
        for student in moving:
            if student == self.long_student:
                continue
            trinn, class_name = school.students[student]
            here = school.classes.get(trinn, [class_name])
            there = school.classes.get(trinn + 1)
            if not there:
                continue
            index = here.index(class_name) if class_name in here else 0
            target = (trinn + 1, there[min(index, len(there) - 1)])
            self.run(
                partial(
                    self.m.change_class,
                    school.rektor,
                    student,
                    trinn=target[0],
                    class_name=target[1],
                    effective_from=day,
                )
            )
            school.students[student] = target
        self.intake(school, day, max(1, len(leaving)))
        self.yearly_assignments(school, day)

    def intake(self, school: _School, day: date, count: int) -> None:
        trinn = school.first_trinn
        names = school.classes.get(trinn) or school.classes[min(school.classes)]
        for n in range(count):
            class_name = names[n % len(names)]
            school.numbers += 1
            number = f"{day.year % 100:02d}-{school.numbers:05d}"
            name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
            student = self.run(
                partial(
                    self.m.register_student,
                    school.rektor,
                    school=school.code,
                    student_number=number,
                    name=name,
                    trinn=trinn,
                    class_name=class_name,
                    registered_on=day,
                )
            )
            school.students[student] = (trinn, class_name)

    def yearly_assignments(self, school: _School, day: date) -> None:
        """Give every team member about 60 % of the position for the school year."""
        view = self.m.team(school.coordinator, school.code, on=day)
        busy: dict[str, int] = {}
        for a in view.assignments:
            busy[a.member_id] = busy.get(a.member_id, 0) + a.minutes_per_week
        school.free = {}
        targets = school.all_classes()
        for n, member in enumerate(view.members):
            if member.left_on is not None or member.joined_on > day:
                continue
            capacity = position_minutes_per_week(member.position_percent)
            free = capacity - busy.get(member.member_id, 0)
            minutes = min(free, capacity * 6 // 10) // 15 * 15
            school.free[member.member_id] = free
            if minutes < 15:
                continue
            kind = ("class", "class", "trinn", "school")[n % 4]
            trinn, class_name = targets[n % len(targets)]
            self.run(
                partial(
                    self.m.assign,
                    school.coordinator,
                    school=school.code,
                    member_id=member.member_id,
                    target_kind=kind,
                    minutes_per_week=minutes,
                    valid_from=day,
                    valid_to=year_end(day),
                    trinn=trinn if kind in ("class", "trinn") else None,
                    class_name=class_name if kind == "class" else None,
                )
            )
            school.free[member.member_id] = free - minutes

    # -- vedtak: decided in the second week, staffed, delivered weekly --------------------------

    def new_vedtak(self, school: _School, day: date) -> None:
        if not school.students:
            return
        candidates = sorted(
            (s for s in school.students if s != self.long_student), key=lambda s: s.int
        )
        count = min(len(candidates), round(len(candidates) * self.profile.vedtak_share))
        for student in self.rng.sample(candidates, count):
            self.one_vedtak(school, student, day)

    def one_vedtak(self, school: _School, student: UUID, day: date) -> None:
        weekly = self.rng.choice((90, 120, 150, 180, 240))
        hours = HoursByCompetence(miljoterapeut=weekly * WEEKS_PER_YEAR)
        valid_from, valid_to = monday_after(day), year_end(day)
        rektor = school.rektor
        vedtak_id = self.run(
            lambda: self.m.open_vedtak(
                rektor, student, kind="individually_adapted_education", opened_on=day
            )
        )
        self.run(
            lambda: self.m.record_recommendation(
                rektor,
                vedtak_id,
                recommended_on=day,
                hours=hours,
                summary="PPT tilrår miljøterapeut i klassen og i liten gruppe.",
            )
        )
        self.run(
            lambda: self.m.decide_vedtak(
                rektor,
                vedtak_id,
                hours=hours,
                organisation="I klassen og i liten gruppe, med miljøterapeut.",
                content="Opplæring i sosial mestring, struktur og faste voksne.",
                reasons="Sakkyndig vurdering viser behov som ikke dekkes av tilpasset opplæring.",
                valid_from=valid_from,
                valid_to=valid_to,
                decided_on=day,
            )
        )
        self.run(lambda: self.m.send_vedtak_notice(rektor, vedtak_id, notice_date=day))
        school.vedtak.append(_Vedtak(vedtak_id, student, weekly, valid_from, valid_to))
        member = max(school.free, key=lambda m: (school.free[m], m), default=None)
        if member is None or school.free[member] < weekly:
            return
        self.run(
            lambda: self.m.assign(
                school.coordinator,
                school=school.code,
                member_id=member,
                target_kind="student",
                minutes_per_week=weekly,
                valid_from=valid_from,
                valid_to=valid_to,
                student_id=student,
                vedtak_id=vedtak_id,
            )
        )
        school.free[member] -= weekly

    def deliveries(self, school: _School, friday: date) -> None:
        monday = friday - timedelta(days=4)
        for v in school.vedtak:
            if v.valid_from > friday or v.valid_to < monday or v.student_id not in school.students:
                continue
            minutes = max(15, v.weekly - self.rng.choice((0, 0, 0, 15, 30)))
            self.run(
                partial(
                    self.m.record_delivery,
                    school.coordinator,
                    v.vedtak_id,
                    week_of=monday,
                    minutes=HoursByCompetence(miljoterapeut=minutes),
                )
            )

    # -- the ressursteam ------------------------------------------------------------------------

    def schedule(self, school: _School, day: date) -> None:
        start = local_instant(day, 12 * 3600)
        meeting_id = self.run(
            lambda: self.m.schedule_meeting(
                school.coordinator, school=school.code, kind="ressursteam", scheduled_at=start
            )
        )
        school.meeting = (meeting_id, start)

    def hold(self, school: _School) -> None:
        if school.meeting is None:
            return
        meeting_id, start = school.meeting
        k = school.coordinator
        classes = school.all_classes()
        trinn, class_name = classes[school.cursor % len(classes)]
        school.cursor += 1
        items = [
            self.run(
                lambda: self.m.add_agenda_item(
                    k,
                    meeting_id,
                    subject_kind="class",
                    title=f"Gjennomgang av {class_name}",
                    trinn=trinn,
                    class_name=class_name,
                )
            )
        ]
        concerns = [c for c in school.open_concerns if c[0] in school.students][:3]
        school.open_concerns = [c for c in school.open_concerns if c not in concerns]
        for student, concern_id in concerns:
            items.append(
                self.run(
                    partial(
                        self.m.add_agenda_item,
                        k,
                        meeting_id,
                        subject_kind="student",
                        title="Bekymring fra observasjoner",
                        student_id=student,
                        concern_id=concern_id,
                    )
                )
            )
        self.run(lambda: self.m.record_meeting_held(k, meeting_id, held_at=start))
        for item_id in items:
            self.run(
                partial(
                    self.m.record_decision,
                    k,
                    meeting_id,
                    item_id=item_id,
                    outcome="advice",
                    text="Kontaktlærer og miljøterapeut følger opp; tas opp igjen ved behov.",
                )
            )

    def close(self, school: _School) -> None:
        if school.meeting is None:
            return
        meeting_id, _ = school.meeting
        school.meeting = None
        self.run(lambda: self.m.close_minutes(school.coordinator, meeting_id))


# ---------------------------------------------------------------------------------------------
# Building a store: demo + following years
# ---------------------------------------------------------------------------------------------


def speed_up(miljo: Miljo) -> None:
    """Give the (single-writer) generator an aggregate cache without deep copies."""
    repository = miljo.app.repository
    repository.cache = LRUCache(maxsize=CACHE_SIZE)
    repository.deepcopy_from_cache = False


def generate(
    miljo: Miljo,
    clock: SimulatedClock,
    profile: Profile,
    *,
    seed: int,
    code_version: str = "",
    target: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Fill the empty store behind ``miljo`` (which must use ``clock`` and ``SeededIds(seed)``)
    with the ``profile``'s municipality, up to ``target`` (default: the profile's) events."""
    started = time.perf_counter()

    def demo_progress(done: int, total: int) -> None:
        if progress is not None:
            progress(miljo.event_count())

    summary = build_demo(
        miljo,
        seed=seed,
        clock=clock,
        progress=demo_progress,
        scale=profile.scale,
        students_factor=profile.students_factor,
        until=profile.demo_until,
    )
    generator = Generator(miljo, clock, profile, seed, progress=progress, target=target)
    generator.adopt([(s.code, s.model, s.coordinator, s.rektor) for s in summary.per_school])
    last = generator.generate(summary.last_day)
    seconds = time.perf_counter() - started
    events = miljo.event_count()
    long_id = generator.long_student
    long_events = 0
    if long_id is not None:
        long_events = len(list(miljo.app.events.get(long_id)))
    return Manifest(
        label=profile.label,
        seed=seed,
        code_version=code_version,
        target=generator.target,
        events=events,
        schools=len(generator.schools),
        students=sum(len(s.students) for s in generator.schools),
        first_day=summary.first_day.isoformat(),
        last_day=max(last, summary.last_day).isoformat(),
        end_instant=clock.now().astimezone(UTC).isoformat(),
        long_student=str(long_id) if long_id is not None else "",
        long_school=generator.long_school.code if generator.long_school else "",
        long_events=long_events,
        seconds=round(seconds, 3),
        rate=round(events / seconds, 1) if seconds > 0 else 0.0,
        per_school=tuple(
            SchoolInfo(s.code, s.model, actor_text(s.coordinator), actor_text(s.rektor))
            for s in generator.schools
        ),
    )


# ---------------------------------------------------------------------------------------------
# The cache: stores keyed by seed, size and code version
# ---------------------------------------------------------------------------------------------

#: What the generated events depend on (the code version hashes these files).
VERSIONED: Final = ("domain", "adapters", "bench/generate.py")


def code_version(root: Path = ROOT) -> str:
    digest = hashlib.sha256()
    for entry in VERSIONED:
        path = root / entry
        files = sorted(path.rglob("*")) if path.is_dir() else [path]
        for file in files:
            if file.is_file() and file.suffix in (".py", ".json"):
                digest.update(str(file.relative_to(root)).encode())
                digest.update(file.read_bytes())
    for package in ("eventsourcing", "orjson", "cryptography"):
        digest.update(f"{package}=={metadata.version(package)}".encode())
    return digest.hexdigest()[:12]


def cache_key(seed: int, label: str, version: str) -> str:
    return f"seed{seed}-{label}-{version}"


def store_files(store_dir: Path) -> tuple[Path, Path]:
    """The SQLite file and the keys folder of a store kept in ``store_dir``."""
    location = resolve_store(store_dir / STORE_NAME)
    if location.db_path is None or location.keys_dir is None:
        raise ValueError(f"{store_dir} does not hold a store file")
    return location.db_path, location.keys_dir


def copy_store(source_dir: Path, target_dir: Path) -> None:
    """Copy a closed store (SQLite file, keys, manifest) into ``target_dir``."""
    target_dir.mkdir(parents=True, exist_ok=True)
    db, keys = store_files(source_dir)
    new_db, new_keys = store_files(target_dir)
    shutil.copy2(db, new_db)
    shutil.copytree(keys, new_keys)
    manifest = source_dir / MANIFEST
    if manifest.exists():
        shutil.copy2(manifest, target_dir / MANIFEST)


def scratch_root(size_hint: int) -> Path | None:
    """A RAM disk with room for a store of ``size_hint`` bytes (Linux /dev/shm), if any."""
    shm = Path("/dev/shm")  # noqa: S108 - a private mkdtemp folder inside it
    if not shm.is_dir() or not os.access(shm, os.W_OK):
        return None
    if shutil.disk_usage(shm).free < 3 * size_hint:
        return None
    return shm


def build_into(store_dir: Path, profile: Profile, seed: int, version: str, *, quiet: bool) -> None:
    """Build the profile's store in ``store_dir`` (created; must not exist)."""
    location = resolve_store(store_dir / STORE_NAME)
    store_dir.mkdir(parents=True)
    init_store(location)
    clock = SimulatedClock()
    miljo = open_store(location, clock=clock, ids=SeededIds(seed))
    try:
        speed_up(miljo)
        report = Progress(profile.label, profile.events, quiet=quiet)
        manifest = generate(miljo, clock, profile, seed=seed, code_version=version, progress=report)
        report(manifest.events, final=True)
    finally:
        miljo.close()
    (store_dir / MANIFEST).write_text(manifest.to_json(), encoding="utf-8")


def cached_store(
    cache_dir: Path, profile: Profile, seed: int, *, quiet: bool = False
) -> tuple[Path, bool]:
    """The cached store for ``profile`` and ``seed`` (built now if missing, in a ``python -O``
    subprocess on a RAM disk when there is one). Returns (folder, built now)."""
    version = code_version()
    key = cache_key(seed, profile.label, version)
    final = cache_dir / key
    if (final / MANIFEST).exists():
        return final, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    for stale in cache_dir.glob(f"seed{seed}-{profile.label}-*"):
        shutil.rmtree(stale, ignore_errors=True)  # built by other code: never reused
    scratch = scratch_root(profile.events * 4000)
    with tempfile.TemporaryDirectory(prefix="miljo-bench-", dir=scratch or cache_dir) as tmp:
        build_dir = Path(tmp) / "store"
        command = [
            sys.executable,
            "-O",
            "-m",
            "bench.generate",
            "--dir",
            str(build_dir),
            "--size",
            profile.label,
            "--seed",
            str(seed),
            "--version",
            version,
        ]
        if quiet:
            command.append("--quiet")
        subprocess.run(command, cwd=ROOT, check=True)  # noqa: S603 - our own module
        partial = cache_dir / f"{key}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        copy_store(build_dir, partial)
        partial.rename(final)
    return final, True


def load_manifest(store_dir: Path) -> Manifest:
    return Manifest.from_json((store_dir / MANIFEST).read_text(encoding="utf-8"))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Build one benchmark store (bench.run uses it).")
    parser.add_argument("--dir", required=True, type=Path, help="folder to create")
    parser.add_argument("--size", required=True, choices=sorted(PROFILES))
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--version", default="")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    build_into(
        args.dir,
        profile_for(args.size),
        args.seed,
        args.version or code_version(),
        quiet=args.quiet,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
