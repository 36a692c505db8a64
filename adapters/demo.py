"""The deterministic demo municipality: the seed report's three school models, one autumn term.

``build_demo`` fills an empty store, through the embedding facade only, with invented
pseudonymous data shaped like the three schools of the seed report (``/work/shared/domain.md``,
"The three school models in the seed"):

* **Trudvang skule** (1.-5. trinn, 3 classes per trinn, ~330 students): 12 miljøterapeuter and
  2 fagarbeidere; a miljøterapeut in every 1st-grade class as general staffing, trinn 2-5
  staffed per vedtak, everyone works in SFO; weekly ressursteam (PPT joins every other week)
  and a weekly team meeting.
* **Gjesdal ungdomsskole** (8.-10. trinn, 4 classes per trinn, ~370 students): 7 miljøterapeuter
  (mostly 85 %) and 6 assistants, all tied to students with a PPT tilråding; a daily
  morgenmøte, weekly team time, a ressursteam every 2nd week that walks through every trinn and
  class, and an arbeidslag every 3rd week with barnevern, PPT, psykisk helse and familievern
  where a student is named only with consent.
* **Strinda vgs** (Vg1-Vg3, five programmes and an STO unit, ~1100 students): 3 miljøveiledere
  at 100 %, about 20 % tied to STO students and 80 % school-wide; a weekly elevtjeneste meeting.

The generator moves a :class:`SimulatedClock` through the term (2024-08-19 to 2024-12-20,
weekdays in Europe/Oslo except the autumn break in ISO week 40), with every event recorded
during school hours (from 08:00 to about 15:30 local time). Ids come from :class:`SeededIds`.
With the same seed and parameters, two runs write the same events: positions, ids, versions,
topics and decoded payloads, timestamps included. Two caveats: the student-number index
(``School.StudentEnrolled.number_key``) is an HMAC under the store's index key, so it matches
only under the same key (``open_store(..., hasher=...)``); and encryption at rest makes the
stored bytes of two stores differ (random keys and nonces), as do the library's snapshot
timestamps. Nothing reads the wall clock or the global random generator; every school has its
own ``random.Random`` derived from the seed and its code.

Every command goes through ``domain.facade.Miljo`` as an actor the need-to-know policy
(``domain.policy``) allows: the school office (admin) keeps the roster, the rektor decides,
the spesialpedagogisk ansvarlig prepares vedtak, the coordinator (at Strinda the leader of
elevtjenesten) allocates hours and runs the meetings, staff record what they observe.

The generator keeps its own mirror of each team's allocations (the capacity rule of
``domain.team``) and of each student's consents, so that it never asks the domain for something
the rules refuse. ``scale`` builds that many copies of each model (codes ``gjesdal``,
``gjesdal-2``, ...); ``students_factor`` scales the number of students and ``until`` ends the
simulation early (benchmarks, tests).

Cost: at the seed's size (1801 students, ~8,600 events) a run takes ~20-25 s of CPU in memory,
most of it in ``register_student``, which replays the School stream (snapshot every 200
events, holding the whole student index) on every registration.
"""

from __future__ import annotations

import heapq
import random
from abc import ABC, abstractmethod
from bisect import bisect_right
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from itertools import accumulate
from typing import Final, TypeVar
from uuid import UUID

import attrs

from domain.facade import Miljo
from domain.values import (
    SCHOOL_TIMEZONE,
    Actor,
    Arena,
    Competence,
    ExternalBody,
    HoursByCompetence,
    MeetingKind,
    ObservationCategory,
    Profession,
    Role,
    iso_week_monday,
    position_minutes_per_week,
)

__all__ = [
    "AUTUMN_BREAK",
    "MODELS",
    "TERM_FIRST",
    "TERM_LAST",
    "DemoSummary",
    "SchoolDemo",
    "SchoolModel",
    "SeededIds",
    "SimulatedClock",
    "build_demo",
    "school_days",
]

# ---------------------------------------------------------------------------------------------
# The term
# ---------------------------------------------------------------------------------------------

TERM_FIRST: Final = date(2024, 8, 19)
TERM_LAST: Final = date(2024, 12, 20)
#: Høstferie (ISO week 40): no school, no events.
AUTUMN_BREAK: Final = (date(2024, 9, 30), date(2024, 10, 4))
SCHOOL_YEAR_END: Final = date(2025, 6, 20)
STAFF_JOINED: Final = date(2024, 8, 1)
#: The ledger checks capacity up to here (every assignment ends by the school year's end).
HORIZON: Final = date(2025, 8, 31)

#: School hours (local time, seconds after midnight): every event is recorded in between.
DAY_START: Final = 8 * 3600
DAY_END: Final = 15 * 3600 + 30 * 60
#: Smallest gap between two commands (they never share a recorded instant).
STEP: Final = timedelta(milliseconds=250)
WEEKS_PER_YEAR: Final = 38
ONE_DAY: Final = timedelta(days=1)


def school_days(first: date = TERM_FIRST, last: date = TERM_LAST) -> list[date]:
    """Weekdays from ``first`` to ``last`` outside the autumn break."""
    days = []
    day = first
    while day <= last:
        if day.isoweekday() <= 5 and not AUTUMN_BREAK[0] <= day <= AUTUMN_BREAK[1]:
            days.append(day)
        day += ONE_DAY
    return days


def local_instant(day: date, seconds: int) -> datetime:
    """The UTC instant of local time (Europe/Oslo) ``seconds`` after midnight on ``day``."""
    clock_time = time(seconds // 3600, (seconds // 60) % 60, seconds % 60)
    return datetime.combine(day, clock_time, tzinfo=SCHOOL_TIMEZONE).astimezone(UTC)


def _hm(hours: int, minutes: int = 0) -> int:
    return hours * 3600 + minutes * 60


def _monday_after(day: date) -> date:
    """The first Monday strictly after ``day``."""
    return iso_week_monday(day) + timedelta(days=7)


# ---------------------------------------------------------------------------------------------
# Ports for the demo: a clock the generator moves, ids from a seeded generator
# ---------------------------------------------------------------------------------------------


class SimulatedClock:
    """A clock (``domain.ports.Clock``) that only the demo generator moves, never backwards."""

    def __init__(self, start: datetime | None = None) -> None:
        instant = start if start is not None else local_instant(TERM_FIRST, DAY_START)
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self._now = instant.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def move_to(self, instant: datetime) -> datetime:
        """Set the time; refuses to run backwards."""
        if instant.tzinfo is None or instant.utcoffset() is None:
            raise ValueError("the simulated clock needs timezone-aware instants")
        instant = instant.astimezone(UTC)
        if instant < self._now:
            raise ValueError(f"the simulated clock cannot go back from {self._now} to {instant}")
        self._now = instant
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        return self.move_to(self._now + delta)


class SeededIds:
    """uuid4-shaped ids from ``random.Random(seed)``: the same seed gives the same ids."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)  # noqa: S311 - reproducible demo data, not secrets

    def new_id(self) -> UUID:
        return UUID(int=self._random.getrandbits(128), version=4)


# ---------------------------------------------------------------------------------------------
# The three school models (numbers from the seed report; people and names are invented)
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class ClassSpec:
    trinn: int
    name: str
    weight: int = 1  # relative class size


@attrs.frozen
class MemberSpec:
    key: str  # e.g. "mt01"; the member id is "<school code>.<key>"
    profession: Profession
    percent: int


@attrs.frozen
class SchoolModel:
    key: str
    name: str
    municipality: str
    first_trinn: int
    last_trinn: int
    classes: tuple[ClassSpec, ...]
    students: int
    team_name: str
    members: tuple[MemberSpec, ...]
    coordinator: str | None  # member key


_BVP, _VP, _SOS = Profession.BARNEVERNSPEDAGOG, Profession.VERNEPLEIER, Profession.SOSIONOM
_MT_CYCLE = (_BVP, _VP, _SOS)

TRUDVANG: Final = SchoolModel(
    key="trudvang",
    name="Trudvang skule",
    municipality="Sogndal",
    first_trinn=1,
    last_trinn=5,
    classes=tuple(ClassSpec(t, f"{t}{p}") for t in range(1, 6) for p in "ABC"),
    students=330,
    team_name="Miljøterapeutteamet ved Trudvang skule",
    members=(
        *(
            MemberSpec(f"mt{i:02d}", _MT_CYCLE[(i - 1) % 3], 100 if i <= 9 else 80)
            for i in range(1, 13)
        ),
        MemberSpec("fa01", Profession.FAGARBEIDER, 80),
        MemberSpec("fa02", Profession.FAGARBEIDER, 80),
    ),
    coordinator="mt01",
)

GJESDAL: Final = SchoolModel(
    key="gjesdal",
    name="Gjesdal ungdomsskole",
    municipality="Gjesdal",
    first_trinn=8,
    last_trinn=10,
    classes=tuple(ClassSpec(t, f"{t}{p}") for t in range(8, 11) for p in "ABCD"),
    students=370,
    team_name="Miljøavdelingen ved Gjesdal ungdomsskole",
    members=(
        MemberSpec("mt01", _VP, 90),
        MemberSpec("mt02", _BVP, 85),
        MemberSpec("mt03", _SOS, 85),
        MemberSpec("mt04", _BVP, 85),
        MemberSpec("mt05", _VP, 85),
        MemberSpec("mt06", _BVP, 85),
        MemberSpec("mt07", _SOS, 80),
        *(
            MemberSpec(f"as{i:02d}", Profession.ASSISTENT, p)
            for i, p in enumerate((60, 60, 70, 70, 75, 75), start=1)
        ),
    ),
    coordinator="mt01",
)

#: Strinda: five programmes (Vg1-Vg3 = trinn 11-13) and the STO unit.
_STRINDA_PROGRAMMES: Final = (
    ("ST", (6, 6, 6), 30),  # studiespesialisering
    ("ID", (2, 2, 2), 28),  # idrettsfag
    ("MD", (2, 2, 2), 28),  # musikk, dans og drama
    ("EL", (3, 2, 0), 15),  # elektro og datateknologi
    ("HO", (3, 2, 0), 15),  # helse- og oppvekstfag
)
STO_CLASSES: Final = ("STO-1", "STO-2", "STO-3")

STRINDA: Final = SchoolModel(
    key="strinda",
    name="Strinda videregående skole",
    municipality="Trondheim",
    first_trinn=11,
    last_trinn=13,
    classes=(
        *(
            ClassSpec(10 + vg, f"{vg}{prog}{'ABCDEF'[i]}", weight)
            for prog, per_vg, weight in _STRINDA_PROGRAMMES
            for vg, count in enumerate(per_vg, start=1)
            for i in range(count)
        ),
        *(ClassSpec(11 + i, name, 6) for i, name in enumerate(STO_CLASSES)),
    ),
    students=1100,
    team_name="Miljøveilederne i elevtjenesten",
    members=(
        MemberSpec("mv01", _BVP, 100),
        MemberSpec("mv02", _BVP, 100),
        MemberSpec("mv03", _VP, 100),
    ),
    coordinator=None,
)

MODELS: Final = (TRUDVANG, GJESDAL, STRINDA)

# ---------------------------------------------------------------------------------------------
# Invented names and texts
# ---------------------------------------------------------------------------------------------

FIRST_NAMES: Final = (
    "Aksel", "Amalie", "Andreas", "Astrid", "Birk", "Ingrid", "Emil", "Emma", "Filip", "Frida",
    "Halvor", "Hedda", "Isak", "Ida", "Jakob", "Julie", "Kasper", "Kaja", "Lars", "Linnea",
    "Magnus", "Maja", "Mats", "Mathilde", "Noah", "Nora", "Oskar", "Oline", "Sander", "Sara",
    "Sigurd", "Sofie", "Tobias", "Thea", "Ulrik", "Vilde", "Øystein", "Åsne", "Solveig",
    "Tiril", "Jørgen", "Søren", "Mille", "Ørjan", "Kjærsti", "Brage",
)  # fmt: skip
LAST_NAMES: Final = (
    "Aasen", "Berg", "Bjørnstad", "Brekke", "Dahl", "Eide", "Fjeld", "Gundersen", "Haugen",
    "Hovland", "Jacobsen", "Kvamme", "Lie", "Lunde", "Myklebust", "Nygård", "Rønning", "Sæther",
    "Solheim", "Strand", "Tangen", "Tveit", "Vik", "Ødegård", "Østby", "Åsheim", "Løken", "Mørk",
    "Bråten", "Skår", "Fossåskaret", "Kleivå",
)  # fmt: skip

_C = ObservationCategory
OBSERVATION_TEXTS: Final[dict[ObservationCategory, tuple[str, ...]]] = {
    _C.WELLBEING: (
        "Virket lei seg og trøtt i første time; sa lite.",
        "Gledet seg over å få ansvar for materiellet i dag.",
        "Forteller at det er vanskelig å komme seg på skolen om morgenen.",
        "Trakk seg unna gruppa og satt med hetta over hodet.",
    ),
    _C.SOCIAL: (
        "Sto alene i storefri; ble med i aktiviteten etter invitasjon fra en voksen.",
        "Fikk god kontakt med to medelever i gruppearbeidet.",
        "Ble holdt utenfor i ballspillet; voksen la til rette for nye lag.",
        "Vanskelig å vente på tur i fellesaktiviteter.",
    ),
    _C.CONFLICT: (
        "Konflikt om ballen på fotballbanen; løst med samtale mellom partene.",
        "Høylytt krangel i garderoben etter gym; skilt av voksen.",
        "Uenighet i gruppearbeid som endte med at eleven gikk ut av rommet.",
        "Dytting i køen til bussen; begge parter hørt.",
    ),
    _C.BULLYING: (
        "Medelever kom med nedsettende kommentarer om klærne til eleven.",
        "Eleven forteller at noen gjentatte ganger har gjemt sekken.",
        "Utestengt fra bursdagsinvitasjon som ble delt ut i klassen.",
        "Kommentarer om utseende i friminuttet; eleven ble synlig lei seg.",
    ),
    _C.ABSENCE: (
        "Kom for sent for tredje gang denne uka.",
        "Fravær uten beskjed første time; foresatte kontaktet.",
        "Gikk hjem etter lunsj uten å si fra.",
        "Høyt fravær siste to uker, mest på mandager.",
    ),
    _C.BEHAVIOUR: (
        "Uro i timen; trengte pause på grupperommet for å roe seg.",
        "Kastet pennalet i sinne da oppgaven ble for vanskelig.",
        "Klarte å bruke avtalt signal og ta pause selv.",
        "Løp ut av klasserommet; fulgt opp av miljøterapeut.",
    ),
    _C.LEARNING: (
        "Strevde med å komme i gang med oppgaven; fikk hjelp til struktur.",
        "Mestret leseøkta med støtte og var stolt etterpå.",
        "Ga opp etter første oppgave; trenger kortere økter.",
        "Jobbet konsentrert i tjue minutter med visuell timeplan.",
    ),
    _C.FAMILY: (
        "Forteller at det er mye krangling hjemme for tiden.",
        "Foresatte melder om flytting; eleven bor nå i to hjem.",
        "Sier at det er lite mat hjemme på slutten av måneden.",
        "Foresatte ønsker samtale om søvn og skjermbruk.",
    ),
    _C.HEALTH: (
        "Klager ofte på vondt i magen før gymtimene.",
        "Sliten og blek; sier at søvnen er dårlig.",
        "Hodepine flere dager denne uka; fikk tilbud om time hos helsesykepleier.",
        "Spiser lite i lunsjen.",
    ),
    _C.OTHER: (
        "Ny i klassen og trenger hjelp til å finne seg til rette.",
        "Deltok aktivt i elevrådsarbeidet.",
        "Savner en fast voksen i overgangen fra undervisning til fritid.",
        "Ba selv om en prat med en voksen etter timen.",
    ),
}
ONLINE_TEXTS: Final = (
    "Melding i klassechatten som andre opplevde som sårende.",
    "Bilde delt i en gruppechat uten samtykke.",
    "Ble fjernet fra klassens gruppechat; opplever det som utestenging.",
)
HOME_TEXTS: Final = (
    "Foresatte forteller at eleven gruer seg til skolen om søndagene.",
    "Hjemmebesøk: eleven var hjemme og ville ikke snakke om skolen.",
    "Foresatte melder om lite søvn og mye tid på nett.",
)
#: Categories by arena (weights): what adults typically note where.
_ANY_ARENA: Final = (
    (_C.SOCIAL, 4),
    (_C.CONFLICT, 4),
    (_C.WELLBEING, 4),
    (_C.BEHAVIOUR, 3),
    (_C.LEARNING, 2),
    (_C.ABSENCE, 2),
    (_C.BULLYING, 1),
    (_C.HEALTH, 1),
    (_C.FAMILY, 1),
    (_C.OTHER, 1),
)
ARENA_CATEGORIES: Final[dict[Arena, tuple[tuple[ObservationCategory, int], ...]]] = {
    Arena.ONLINE: ((_C.BULLYING, 2), (_C.CONFLICT, 2), (_C.SOCIAL, 1)),
    Arena.HOME: ((_C.FAMILY, 2), (_C.WELLBEING, 2), (_C.ABSENCE, 1)),
    Arena.WAY_TO_SCHOOL: ((_C.CONFLICT, 2), (_C.SOCIAL, 1), (_C.ABSENCE, 1)),
}
VOICES: Final = (
    "Jeg vil ha noen å være med i friminuttet.",
    "Det er greit når jeg vet hva som skal skje.",
    "Jeg liker ikke når det er mye bråk.",
    "Jeg vil at læreren skal spørre meg først.",
    "Det hjelper å gå en tur når jeg blir sint.",
    "Jeg gruer meg til gymmen.",
    "Jeg vil klare det selv, men trenger litt hjelp til å starte.",
)
CONCERNS: Final = (
    "Bekymring for trivsel og vennskap",
    "Bekymring for økende fravær",
    "Gjentatte konflikter i friminuttene",
    "Mulig utestenging fra klassefellesskapet",
    "Uro og utagering i timene",
    "Bekymring for hjemmesituasjonen",
    "Faglige og sosiale vansker; behov for kartlegging",
)
ADVICE: Final = (
    "Kontaktlærer følger opp med elevsamtale; tas opp igjen ved behov.",
    "Miljøterapeut observerer i friminutt og gir tilbakemelding til kontaktlærer.",
    "Foresatte kontaktes for samtale om hvordan eleven har det.",
)
MEASURES: Final = (
    "Fast voksen i friminuttene de neste to ukene.",
    "Ukentlige samtaler med miljøterapeut; elevens egne mål skrives ned.",
    "Strukturert overgang mellom undervisning og friminutt med avtalt signal.",
    "Vennegruppe med tre medelever en gang i uka.",
)
CLASS_MOODS: Final = (
    "god stemning og gode rutiner",
    "noe uro etter storefri",
    "rolig, men noen elever faller utenfor",
    "litt anspent etter en konflikt forrige uke",
    "bedre enn sist; tiltakene virker",
)
TEAM_TOPICS: Final = (
    "Fordeling av oppgaver og vakter",
    "Faglig påfyll: relasjonsbygging",
    "Rolleavklaring med lærerne",
    "Erfaringsdeling: aktiviteter i friminuttene",
    "Forutsigbare timer: hvem er hvor denne uka",
)
BODY_NAMES: Final = {
    ExternalBody.BUP: "BUP",
    ExternalBody.PSYKISK_HELSE: "psykisk helsetjeneste",
    ExternalBody.BARNEVERN: "barnevernstjenesten",
    ExternalBody.NAV: "NAV",
}
TRUDVANG_WHEEL: Final = {
    35: "Årshjul: trivselsuker for klassene og SFO",
    38: "Årshjul: kartlegging og erfaringer fra overgangen fra barnehage",
    43: "Årshjul: Elevundersøkelsen på 5. trinn",
    47: "Årshjul: planlegging av overgangsmøter",
    50: "Årshjul: evaluering av høstens tiltak",
}
STRINDA_THEMES: Final = {
    36: "Fravær på Vg1 etter de første ukene",
    39: "SLT: rusforebyggende tiltak før høstferien",
    43: "Overgang fra ungdomsskolen: oppfølging av nye elever",
    47: "Samarbeid med BUP og NAV",
    50: "Halvårsoppsummering av elevtjenesten",
}

# ---------------------------------------------------------------------------------------------
# Summary
# ---------------------------------------------------------------------------------------------


@attrs.frozen
class SchoolDemo:
    """One demo school: counts at the end of the term and ids worth showing."""

    code: str
    name: str
    model: str
    students: int  # active at the end of the term
    classes: int
    team_members: int  # in the team at the end of the term
    coordinator: Actor  # who allocates the team's hours (miljøkoordinator, or the leader)
    rektor: Actor
    sample_student_id: UUID  # a student with observations, meetings, a referral and a vedtak
    sample_vedtak_id: UUID | None
    sample_meeting_id: UUID | None  # a held ressursteam / elevtjeneste meeting


@attrs.frozen
class DemoSummary:
    seed: int
    scale: int
    schools: int
    students: int  # registered during the term
    events: int  # events in the store afterwards
    first_day: date
    last_day: date
    per_school: tuple[SchoolDemo, ...]

    def school(self, code: str) -> SchoolDemo:
        for school in self.per_school:
            if school.code == code:
                return school
        raise KeyError(code)


# ---------------------------------------------------------------------------------------------
# The engine: a day-by-day agenda of operations, run in time order on the simulated clock
# ---------------------------------------------------------------------------------------------

Op = Callable[[], None]
T = TypeVar("T")


class _Engine:
    def __init__(
        self,
        miljo: Miljo,
        clock: SimulatedClock,
        days: list[date],
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.miljo = miljo
        self.clock = clock
        self.days = days
        self.today = days[0]
        self._queue: dict[date, list[tuple[int, int, Op]]] = {}
        self._seq = 0
        self._last = clock.now() - STEP
        self._progress = progress
        self.done = 0
        self.total = 0

    def on_or_after(self, day: date) -> date | None:
        for candidate in self.days:
            if candidate >= day:
                return candidate
        return None

    def at(self, day: date, seconds: int, op: Op) -> bool:
        """Run ``op`` at local time ``seconds`` on the first school day on or after ``day``.
        Operations that would fall after the term are dropped (returns False)."""
        target = self.on_or_after(max(day, self.today))
        if target is None:
            return False
        heapq.heappush(self._queue.setdefault(target, []), (seconds, self._seq, op))
        self._seq += 1
        return True

    def later(self, days: int, seconds: int, op: Op) -> bool:
        return self.at(self.today + timedelta(days=days), seconds, op)

    def tick(self) -> None:
        """Let a little time pass between two commands of one operation."""
        self._last = self.clock.move_to(self._last + STEP)

    def run_day(self, day: date) -> None:
        self.today = day
        heap = self._queue.setdefault(day, [])
        while heap:
            seconds, _, op = heapq.heappop(heap)
            instant = max(local_instant(day, seconds), self._last + STEP)
            self._last = self.clock.move_to(instant)
            op()
        del self._queue[day]

    def report(self, units: int = 1) -> None:
        self.done = min(self.total, self.done + units)
        if self._progress is not None:
            self._progress(self.done, self.total)


# ---------------------------------------------------------------------------------------------
# The generator's mirrors of domain state (so that it never breaks a rule)
# ---------------------------------------------------------------------------------------------


@attrs.define
class _Alloc:
    assignment_id: UUID
    member_id: str
    target_kind: str
    minutes: int
    first: date
    last: date | None
    student_id: UUID | None = None
    vedtak_id: UUID | None = None
    trinn: int | None = None
    class_name: str | None = None

    def touches(self, monday: date) -> bool:
        if self.last is not None and self.last < self.first:
            return False  # never in force
        return iso_week_monday(self.first) <= monday and (
            self.last is None or monday <= iso_week_monday(self.last)
        )


@attrs.define
class _Staffer:
    member_id: str
    profession: Profession
    joined_on: date
    periods: list[tuple[date, Decimal]]
    left_on: date | None = None
    leaving: bool = False  # no new assignments (a departure is planned)

    @property
    def competence(self) -> Competence:
        return self.profession.competence


class _Ledger:
    """The team's members and assignments, and the capacity rule of ``domain.team``: in every
    ISO week an assignment touches it counts in full; the week's capacity is that of the
    lowest position in force on the member's days in that week."""

    def __init__(self) -> None:
        self.staff: dict[str, _Staffer] = {}
        self.allocs: dict[UUID, _Alloc] = {}
        #: Minutes kept free for a planned change (e.g. a rotation); ``pick`` leaves them.
        self.held_back: dict[str, int] = {}

    def join(self, member_id: str, profession: Profession, percent: int, on: date) -> None:
        self.staff[member_id] = _Staffer(member_id, profession, on, [(on, Decimal(percent))])

    def change_position(self, member_id: str, percent: int, on: date) -> None:
        staffer = self.staff[member_id]
        kept = [p for p in staffer.periods if p[0] != on]
        staffer.periods = sorted([*kept, (on, Decimal(percent))])

    def capacity(self, member_id: str, monday: date) -> int:
        staffer = self.staff[member_id]
        first = max(monday, staffer.joined_on)
        last = monday + timedelta(days=6)
        if staffer.left_on is not None:
            last = min(last, staffer.left_on)
        if first > last:
            return 0
        percents = [p for on, p in staffer.periods if first < on <= last]
        at_start = [p for on, p in staffer.periods if on <= first]
        if at_start:
            percents.append(at_start[-1])
        return position_minutes_per_week(min(percents)) if percents else 0

    def load(self, member_id: str, monday: date) -> int:
        return sum(
            a.minutes
            for a in self.allocs.values()
            if a.member_id == member_id and a.touches(monday)
        )

    def free(self, member_id: str, first: date, last: date | None) -> int:
        """Minutes a new assignment over ``first``..``last`` could take in every week."""
        monday = iso_week_monday(first)
        stop = iso_week_monday(last or HORIZON)
        mine = [a for a in self.allocs.values() if a.member_id == member_id]
        worst = position_minutes_per_week(Decimal(100))
        while monday <= stop:
            load = sum(a.minutes for a in mine if a.touches(monday))
            worst = min(worst, self.capacity(member_id, monday) - load)
            monday += timedelta(days=7)
        return worst

    def available(self, competence: Competence, first: date) -> list[str]:
        return [
            s.member_id
            for s in self.staff.values()
            if s.competence is competence
            and s.left_on is None
            and not s.leaving
            and s.joined_on <= first
        ]

    def pick(
        self, competence: Competence, minutes: int, first: date, last: date | None
    ) -> list[tuple[str, int]]:
        """Members (most free first) who can take ``minutes``: one if possible, else a split in
        whole quarters of an hour; may cover less than asked when the team is full."""
        frees = {
            m: self.free(m, first, last) - self.held_back.get(m, 0)
            for m in self.available(competence, first)
        }
        order = sorted(frees, key=lambda m: (-frees[m], m))
        if not order or minutes <= 0:
            return []
        if frees[order[0]] >= minutes:
            return [(order[0], minutes)]
        chosen: list[tuple[str, int]] = []
        remaining = minutes
        for member in order:
            give = min(remaining, frees[member] // 15 * 15)
            if give >= 45:
                chosen.append((member, give))
                remaining -= give
            if remaining <= 0:
                break
        return chosen

    def end(self, assignment_id: UUID, last: date) -> None:
        self.allocs[assignment_id].last = last

    def member_left(self, member_id: str, left_on: date) -> None:
        self.staff[member_id].left_on = left_on
        for alloc in self.allocs.values():
            if alloc.member_id != member_id:
                continue
            last_day = max(left_on, alloc.first - ONE_DAY)
            if alloc.last is None or alloc.last > last_day:
                alloc.last = last_day


@attrs.define
class _ConsentRec:
    consent_id: UUID
    scope_kind: str
    scope: str
    valid_from: date
    valid_to: date | None
    withdrawn_on: date | None = None

    def covers(self, body: ExternalBody, kind: MeetingKind, on: date) -> bool:
        """Mirror of ``Student.consent_covers`` for this one consent."""
        if self.withdrawn_on is not None and self.withdrawn_on <= on:
            return False
        if not (self.valid_from <= on and (self.valid_to is None or on <= self.valid_to)):
            return False
        if self.scope_kind == "body":
            return self.scope == body.value
        return self.scope == kind.value


@attrs.define
class _Obs:
    observation_id: UUID
    author: Actor
    arena: str
    categories: list[str]
    text: str
    observed_at: datetime
    voice: str | None


@attrs.define(eq=False)
class _Pupil:
    student_id: UUID
    number: str
    trinn: int
    class_name: str
    active: bool = True
    focus: bool = False
    reserved: bool = False  # kept for a storyline
    in_pipeline: bool = False
    forced_outcome: str | None = None
    vedtak_ids: list[UUID] = attrs.Factory(list)
    consents: list[_ConsentRec] = attrs.Factory(list)
    observations: list[_Obs] = attrs.Factory(list)
    referrals: int = 0

    def covers(self, bodies: Sequence[ExternalBody], kind: MeetingKind, on: date) -> bool:
        return all(any(c.covers(body, kind, on) for c in self.consents) for body in bodies)


@attrs.define
class _Case:
    """A vedtak the generator made: what the team is asked to deliver per week."""

    vedtak_id: UUID
    pupil: _Pupil
    weekly_mt: int
    weekly_assistant: int
    weekly_special_ed: int
    valid_from: date
    recommended_mt: int = 0
    appeal: bool = False


@attrs.define
class _Continuing:
    """A vedtak decided before the term (entered in the first week, with its past dates)."""

    pupil: _Pupil
    kind: str
    recommended: HoursByCompetence | None
    granted: HoursByCompetence
    deviation: str | None


# ---------------------------------------------------------------------------------------------
# One school: the common machinery; subclasses add each model's rhythm and storylines
# ---------------------------------------------------------------------------------------------


def _distribute(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder; at least 1 each)."""
    whole = sum(weights)
    sizes = [max(1, total * w // whole) for w in weights]
    remainders = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    short = total - sum(sizes)
    for i in remainders[: max(0, short)]:
        sizes[i] += 1
    return sizes


def _weekly(per_year_minutes: int) -> int:
    return per_year_minutes // WEEKS_PER_YEAR


def _hours(
    *, mt: int = 0, assistant: int = 0, special_ed: int = 0, teacher: int = 0
) -> HoursByCompetence:
    """Hours per year from weekly minutes (38 school weeks)."""
    return HoursByCompetence(
        teacher=teacher * WEEKS_PER_YEAR,
        special_ed_teacher=special_ed * WEEKS_PER_YEAR,
        miljoterapeut=mt * WEEKS_PER_YEAR,
        assistant=assistant * WEEKS_PER_YEAR,
    )


class _School(ABC):
    model: SchoolModel
    arenas: tuple[tuple[Arena, int], ...] = (
        (Arena.CLASSROOM, 4),
        (Arena.BREAK, 4),
        (Arena.WAY_TO_SCHOOL, 1),
        (Arena.HOME, 1),
        (Arena.ONLINE, 2),
        (Arena.OTHER, 1),
    )
    observations_per_student_day: float = 0.009
    concerns_per_week: int = 3
    extra_pipelines: int = 1

    def __init__(
        self, engine: _Engine, model: SchoolModel, copy: int, seed: int, students_factor: float
    ) -> None:
        self.e = engine
        self.m = engine.miljo
        self.model = model
        self.copy = copy
        self.code = model.key if copy == 1 else f"{model.key}-{copy}"
        self.name = model.name if copy == 1 else f"{model.name} ({copy})"
        self.rng = random.Random(f"miljo-demo:{seed}:{self.code}")  # noqa: S311 - demo data
        total = max(len(model.classes), round(model.students * students_factor))
        self.class_sizes = _distribute(total, [c.weight for c in model.classes])
        code = self.code
        self.office = Actor(f"{code}.kontor", Role.ADMIN)
        self.rektor = self.staff(f"{code}.rektor", Role.REKTOR)
        self.inspektor = self.staff(f"{code}.insp1", Role.INSPEKTOR)
        self.inspektor2 = self.staff(f"{code}.insp2", Role.INSPEKTOR)
        self.sped = self.staff(f"{code}.spesped", Role.SPESIALPEDAGOGISK_ANSVARLIG)
        self.teachers = {
            c.name: self.staff(f"{code}.kl{i:02d}", Role.LAERER)
            for i, c in enumerate(model.classes, 1)
        }
        self.coordinator = (
            self.staff(self.member_id(model.coordinator), Role.MILJOKOORDINATOR)
            if model.coordinator is not None
            else self.staff(f"{code}.leder", Role.INSPEKTOR)
        )
        self.ledger = _Ledger()
        self.pupils: list[_Pupil] = []
        self.by_class: dict[str, list[_Pupil]] = {c.name: [] for c in model.classes}
        self.focus: list[_Pupil] = []
        self.cases: list[_Case] = []
        self.continuing: list[_Continuing] = []
        self.concern_queue: list[tuple[_Pupil, UUID]] = []
        self.pipelines = 0
        self.numbers = 0
        self.registered = 0
        self.delivered_weeks: set[tuple[UUID, date]] = set()
        self.sample_pupil: _Pupil | None = None
        self.sample_meeting: UUID | None = None
        self.cancelled: set[UUID] = set()
        self.scheduled_at: dict[UUID, datetime] = {}
        self.trinn_groups: dict[int, UUID] = {}

    # -- helpers ---------------------------------------------------------------------------------

    def member_id(self, key: str) -> str:
        return f"{self.code}.{key}"

    def staff(self, person_id: str, role: Role) -> Actor:
        """A person of this school's staff, acting for this school only (the access
        policy's school scope)."""
        return Actor(person_id, role, schools={self.code})

    def mt_actor(self, member_id: str) -> Actor:
        return self.staff(member_id, Role.MILJOTERAPEUT)

    @property
    def student_count(self) -> int:
        return sum(self.class_sizes)

    def active(self, pupils: Sequence[_Pupil] | None = None) -> list[_Pupil]:
        return [p for p in (self.pupils if pupils is None else pupils) if p.active]

    def choice(self, items: Sequence[T]) -> T:
        return items[self.rng.randrange(len(items))]

    def weighted(self, items: Sequence[tuple[T, int]]) -> T:
        bounds = list(accumulate(w for _, w in items))
        roll = self.rng.randrange(bounds[-1])
        return items[bisect_right(bounds, roll)][0]

    def count(self, expected: float, trials: int = 12) -> int:
        """A binomial count with mean ``expected`` (integers and rng only: reproducible)."""
        p = min(1.0, expected / trials)
        return sum(1 for _ in range(trials) if self.rng.random() < p)

    def new_number(self) -> str:
        self.numbers += 1
        return f"24-{self.numbers:04d}"

    def new_name(self) -> str:
        return f"{self.choice(FIRST_NAMES)} {self.choice(LAST_NAMES)}"

    def mts(self) -> list[str]:
        today = self.e.today
        return [
            s.member_id
            for s in self.ledger.staff.values()
            if s.competence is Competence.MILJOTERAPEUT
            and s.joined_on <= today
            and (s.left_on is None or today <= s.left_on)
        ]

    def helper_for(self, pupil: _Pupil) -> str:
        """A miljøterapeut assigned to ``pupil`` today (else any miljøterapeut)."""
        today = self.e.today
        mine = [
            a.member_id
            for a in self.ledger.allocs.values()
            if a.student_id == pupil.student_id
            and a.first <= today
            and (a.last is None or today <= a.last)
            and self.ledger.staff[a.member_id].competence is Competence.MILJOTERAPEUT
        ]
        return mine[0] if mine else self.choice(self.mts())

    def tick(self) -> None:
        self.e.tick()

    # -- setup ------------------------------------------------------------------------------------

    def plan_setup(self) -> None:
        first = TERM_FIRST
        self.e.at(first, DAY_START, self.setup_school)
        span = _hm(14, 45) - _hm(8, 15)
        specs = [
            (c, i)
            for c, size in zip(self.model.classes, self.class_sizes, strict=True)
            for i in range(size)
        ]
        for n, (spec, _) in enumerate(specs):
            seconds = _hm(8, 15) + n * span // len(specs)
            self.e.at(first, seconds, partial(self.register, spec, self.new_name(), first))
        self.e.at(first, _hm(14, 50), self.choose_focus)
        self.e.at(first, _hm(15, 0), self.initial_assignments)
        self.e.at(first + ONE_DAY, _hm(9, 0), self.enter_continuing_vedtak)
        self.e.at(date(2024, 8, 23), _hm(10, 0), self.staff_continuing_vedtak)
        self.plan_storylines()

    def setup_school(self) -> None:
        m, model, code = self.m, self.model, self.code
        m.register_school(
            self.office,
            code=code,
            name=self.name,
            first_trinn=model.first_trinn,
            last_trinn=model.last_trinn,
        )
        for spec in model.classes:
            self.tick()
            m.add_class(self.office, school=code, trinn=spec.trinn, class_name=spec.name)
        self.tick()
        m.form_team(self.office, school=code, name=model.team_name)
        for member in model.members:
            self.tick()
            self.add_member(member.key, member.profession, member.percent, STAFF_JOINED)
        if model.coordinator is not None:
            self.tick()
            m.appoint_coordinator(
                self.rektor,
                school=code,
                member_id=self.member_id(model.coordinator),
                effective_from=STAFF_JOINED,
            )

    def add_member(self, key: str, profession: Profession, percent: int, joined: date) -> None:
        member_id = self.member_id(key)
        self.m.add_member(
            self.office,
            school=self.code,
            member_id=member_id,
            profession=profession.value,
            position_percent=percent,
            joined_on=joined,
        )
        self.ledger.join(member_id, profession, percent, joined)

    def register(self, spec: ClassSpec, name: str, registered_on: date) -> None:
        number = self.new_number()
        student_id = self.m.register_student(
            self.office,
            school=self.code,
            student_number=number,
            name=name,
            trinn=spec.trinn,
            class_name=spec.name,
            registered_on=registered_on,
        )
        pupil = _Pupil(student_id, number, spec.trinn, spec.name)
        self.pupils.append(pupil)
        self.by_class[spec.name].append(pupil)
        self.registered += 1
        self.e.report()

    def choose_focus(self) -> None:
        """Pick the students with continuing vedtak and the students adults worry about."""
        self.continuing = self.choose_continuing()
        for plan in self.continuing:
            plan.pupil.focus = True
        others = [p for p in self.pupils if not p.focus]
        extra = max(2, len(self.pupils) * 5 // 100)
        for pupil in self.rng.sample(others, min(extra, len(others))):
            pupil.focus = True
        self.focus = [p for p in self.pupils if p.focus]

    @abstractmethod
    def choose_continuing(self) -> list[_Continuing]:
        """Each school model does this its own way."""

    def reserve(self, candidates: Sequence[_Pupil]) -> _Pupil:
        """A storyline student: not reserved, no vedtak yet; becomes a focus student."""
        free = [p for p in candidates if not p.reserved and not p.vedtak_ids and not p.focus]
        free = free or [p for p in candidates if not p.reserved and not p.vedtak_ids]
        free = free or [p for p in candidates if not p.reserved]
        pupil = self.choice(free)
        pupil.reserved = True
        if not pupil.focus:
            pupil.focus = True
            self.focus.append(pupil)
        return pupil

    @abstractmethod
    def initial_assignments(self) -> None:
        """Each school model does this its own way."""

    def assign(
        self,
        member_id: str,
        target_kind: str,
        minutes: int,
        first: date,
        last: date | None,
        *,
        pupil: _Pupil | None = None,
        vedtak_id: UUID | None = None,
        trinn: int | None = None,
        class_name: str | None = None,
    ) -> UUID:
        free = self.ledger.free(member_id, first, last)
        if free < minutes:  # the generator's own ledger guards the domain's capacity rule
            raise AssertionError(f"{member_id} has {free} free minutes, not {minutes}")
        self.tick()
        student_id = pupil.student_id if pupil is not None else None
        assignment_id = self.m.assign(
            self.coordinator,
            school=self.code,
            member_id=member_id,
            target_kind=target_kind,
            minutes_per_week=minutes,
            valid_from=first,
            valid_to=last,
            student_id=student_id,
            vedtak_id=vedtak_id,
            trinn=trinn,
            class_name=class_name,
        )
        self.ledger.allocs[assignment_id] = _Alloc(
            assignment_id,
            member_id,
            target_kind,
            minutes,
            first,
            last,
            student_id,
            vedtak_id,
            trinn,
            class_name,
        )
        return assignment_id

    def rotate(self, assignment_id: UUID, to_member: str, on: date) -> UUID:
        old = self.ledger.allocs[assignment_id]
        free = self.ledger.free(to_member, on, old.last)
        if free < old.minutes:  # as above, for the member taking over
            raise AssertionError(f"{to_member} cannot take {old.minutes} minutes from {on}")
        self.tick()
        new_id = self.m.rotate_assignment(
            self.coordinator,
            school=self.code,
            assignment_id=assignment_id,
            to_member_id=to_member,
            on=on,
        )
        self.ledger.allocs[new_id] = attrs.evolve(
            old, assignment_id=new_id, member_id=to_member, first=on
        )
        old.last = on - ONE_DAY
        return new_id

    def staff_case(self, case: _Case, first: date, minutes_mt: int, minutes_as: int) -> None:
        """Assign team members to a vedtak's weekly minutes, as far as the team has room."""
        for competence, minutes in (
            (Competence.MILJOTERAPEUT, minutes_mt),
            (Competence.ASSISTANT, minutes_as),
        ):
            for member_id, given in self.make_room(competence, minutes, first):
                self.assign(
                    member_id,
                    "student",
                    given,
                    first,
                    SCHOOL_YEAR_END,
                    pupil=case.pupil,
                    vedtak_id=case.vedtak_id,
                )

    def make_room(self, competence: Competence, minutes: int, first: date) -> list[tuple[str, int]]:
        return self.ledger.pick(competence, minutes, first, SCHOOL_YEAR_END)

    # -- vedtak ---------------------------------------------------------------------------------

    def enter_continuing_vedtak(self) -> None:
        """Vedtak decided in the spring, entered in the first week with their own dates."""
        for n, plan in enumerate(self.continuing):
            seconds = _hm(9, 0) + n * (_hm(5, 0) // max(1, len(self.continuing)))
            self.e.at(self.e.today, seconds, partial(self.enter_one_vedtak, plan))

    def enter_one_vedtak(self, plan: _Continuing) -> None:
        m, pupil = self.m, plan.pupil
        vedtak_id = m.open_vedtak(
            self.sped, pupil.student_id, kind=plan.kind, opened_on=date(2024, 2, 12)
        )
        if plan.recommended is not None:
            self.tick()
            m.record_recommendation(
                self.sped,
                vedtak_id,
                recommended_on=date(2024, 4, 22),
                hours=plan.recommended,
                summary="Sakkyndig vurdering fra PPT med tilråding om timer og organisering.",
            )
        self.tick()
        m.decide_vedtak(
            self.rektor,
            vedtak_id,
            hours=plan.granted,
            organisation=self.organisation(plan.granted),
            content=(
                "Tilrettelagt opplæring med vekt på sosial mestring og struktur i skoledagen."
                if plan.recommended is not None
                else "Personlig assistanse i praktiske situasjoner gjennom skoledagen."
            ),
            reasons=(
                "Eleven har behov ut over ordinær tilpasset opplæring, jf. sakkyndig vurdering."
                if plan.recommended is not None
                else "Eleven trenger hjelp i praktiske gjøremål for å kunne delta i skoledagen."
            ),
            deviation_reason=plan.deviation,
            valid_from=TERM_FIRST,
            valid_to=SCHOOL_YEAR_END,
            decided_on=date(2024, 6, 10),
        )
        self.tick()
        m.send_vedtak_notice(self.rektor, vedtak_id, notice_date=date(2024, 6, 12))
        pupil.vedtak_ids.append(vedtak_id)
        self.cases.append(
            _Case(
                vedtak_id,
                pupil,
                weekly_mt=_weekly(plan.granted.miljoterapeut),
                weekly_assistant=_weekly(plan.granted.assistant),
                weekly_special_ed=_weekly(plan.granted.special_ed_teacher),
                valid_from=TERM_FIRST,
                recommended_mt=_weekly(plan.recommended.miljoterapeut) if plan.recommended else 0,
            )
        )

    @staticmethod
    def organisation(hours: HoursByCompetence) -> str:
        if hours.miljoterapeut and hours.assistant:
            return "I klassen og i liten gruppe, med miljøterapeut og assistent."
        if hours.assistant:
            return "Personlig assistanse i skoledagen."
        if hours.miljoterapeut:
            return "I klassen og i liten gruppe, med miljøterapeut."
        return "Fysisk tilrettelegging av arbeidsplass og rom."

    def continuing_plan(
        self, pupil: _Pupil, mt: int, assistant: int, special_ed: int
    ) -> _Continuing:
        recommended = _hours(mt=mt, assistant=assistant, special_ed=special_ed)
        deviation = None
        granted = recommended
        if mt >= 450 and self.rng.random() < 0.2:
            granted = _hours(mt=mt - 150, assistant=assistant, special_ed=special_ed + 150)
            deviation = (
                "Deler av tilrådde miljøterapeuttimer gis som spesialpedagogisk støtte i "
                "gruppe; skolen vurderer at dette dekker elevens behov."
            )
        return _Continuing(pupil, "individually_adapted_education", recommended, granted, deviation)

    def staff_continuing_vedtak(self) -> None:
        monday = _monday_after(self.e.today)
        for case in list(self.cases):
            self.staff_case(case, monday, case.weekly_mt, case.weekly_assistant)

    def start_ppt_referral(
        self, pupil: _Pupil, *, deviate: bool, appeal: bool, storyline: bool
    ) -> None:
        """The case flow: consent, referral to PPT, sakkyndig vurdering, vedtak, notice, staff."""
        pupil.in_pipeline = True
        if not storyline:
            self.pipelines += 1
        self.e.later(1, _hm(10, 0), partial(self.ppt_referral, pupil, deviate, appeal))

    def consent_giver(self, pupil: _Pupil) -> str:
        return "student" if pupil.trinn >= 11 else "guardian"

    def record_consent(self, pupil: _Pupil, scope_kind: str, scope: str, note: str) -> _ConsentRec:
        self.tick()
        today = self.e.today
        consent_id = self.m.record_consent(
            self.coordinator,
            pupil.student_id,
            giver=self.consent_giver(pupil),
            scope_kind=scope_kind,
            scope=scope,
            valid_from=today,
            valid_to=SCHOOL_YEAR_END,
            note=note,
        )
        record = _ConsentRec(consent_id, scope_kind, scope, today, SCHOOL_YEAR_END)
        pupil.consents.append(record)
        return record

    def ppt_referral(self, pupil: _Pupil, deviate: bool, appeal: bool) -> None:
        if not pupil.active:
            return
        if not pupil.covers([ExternalBody.PPT], MeetingKind.RESSURSTEAM, self.e.today):
            self.record_consent(
                pupil, "body", "ppt", "Samtykke til henvisning og samarbeid med PPT."
            )
        self.tick()
        referral_id = self.m.make_referral(
            self.sped,
            pupil.student_id,
            body="ppt",
            reason="Henvisning til PPT for sakkyndig vurdering etter drøfting i ressursteamet.",
        )
        pupil.referrals += 1
        chain = partial(self.referral_status, pupil, referral_id)
        self.e.later(7, _hm(11, 0), partial(chain, "acknowledged"))
        self.e.later(21, _hm(11, 0), partial(chain, "accepted"))
        self.e.later(49, _hm(11, 15), partial(chain, "closed"))
        self.e.later(35, _hm(9, 30), partial(self.ppt_recommendation, pupil, deviate, appeal))

    def new_vedtak_minutes(self) -> int:
        return self.choice((300, 375, 450))

    def referral_status(self, pupil: _Pupil, referral_id: UUID, status: str) -> None:
        if pupil.active:
            self.m.change_referral_status(
                self.sped, pupil.student_id, referral_id=referral_id, status=status
            )

    def ppt_recommendation(self, pupil: _Pupil, deviate: bool, appeal: bool) -> None:
        if not pupil.active:
            return
        mt = self.new_vedtak_minutes() if not deviate else 600
        recommended = _hours(mt=mt, special_ed=self.choice((60, 90, 120)))
        vedtak_id = self.m.open_vedtak(
            self.sped, pupil.student_id, kind="individually_adapted_education"
        )
        self.tick()
        self.m.record_recommendation(
            self.sped,
            vedtak_id,
            recommended_on=self.e.today,
            hours=recommended,
            summary="PPT tilrår miljøterapeuttimer i klasse og liten gruppe, og spesialpedagogikk.",
        )
        pupil.vedtak_ids.append(vedtak_id)
        self.e.later(
            7, _hm(13, 0), partial(self.decide_new, pupil, vedtak_id, recommended, deviate, appeal)
        )

    def decide_new(
        self,
        pupil: _Pupil,
        vedtak_id: UUID,
        recommended: HoursByCompetence,
        deviate: bool,
        appeal: bool,
    ) -> None:
        self.m.vedtak(self.rektor, vedtak_id, reason="Vurdering før enkeltvedtak")
        granted, deviation = recommended, None
        if deviate:
            granted = attrs.evolve(
                recommended, miljoterapeut=recommended.miljoterapeut - 150 * WEEKS_PER_YEAR
            )
            deviation = (
                "Skolen gir færre miljøterapeuttimer enn tilrådd fordi eleven også får støtte "
                "gjennom klassens miljøterapeut; ordningen evalueres etter jul."
            )
        valid_from = _monday_after(self.e.today)
        self.tick()
        self.m.decide_vedtak(
            self.rektor,
            vedtak_id,
            hours=granted,
            organisation=self.organisation(granted),
            content="Opplæring i sosial mestring, struktur og faste voksne gjennom skoledagen.",
            reasons="Sakkyndig vurdering viser behov som ikke dekkes av tilpasset opplæring.",
            deviation_reason=deviation,
            valid_from=valid_from,
            valid_to=SCHOOL_YEAR_END,
        )
        case = _Case(
            vedtak_id,
            pupil,
            weekly_mt=_weekly(granted.miljoterapeut),
            weekly_assistant=0,
            weekly_special_ed=_weekly(granted.special_ed_teacher),
            valid_from=valid_from,
            recommended_mt=_weekly(recommended.miljoterapeut),
            appeal=appeal,
        )
        self.cases.append(case)
        self.e.later(1, _hm(9, 0), partial(self.notice_and_staff, case))

    def notice_and_staff(self, case: _Case) -> None:
        self.m.send_vedtak_notice(self.rektor, case.vedtak_id)
        self.staff_case(case, case.valid_from, case.weekly_mt, case.weekly_assistant)
        if case.appeal:
            self.e.later(10, _hm(10, 30), partial(self.lodge_appeal, case))

    def lodge_appeal(self, case: _Case) -> None:
        self.m.lodge_appeal(
            self.inspektor,  # the school receives the guardians' appeal
            case.vedtak_id,
            grounds="Foresatte mener eleven trenger alle miljøterapeuttimene PPT tilrådde.",
        )
        self.e.later(21, _hm(11, 0), partial(self.resolve_appeal, case))

    def resolve_appeal(self, case: _Case) -> None:
        self.m.resolve_appeal(
            self.inspektor,  # and records the appeal body's outcome
            case.vedtak_id,
            outcome="changed",
            note="Statsforvalteren ber skolen gi timene slik PPT tilrådde.",
        )
        extra = case.recommended_mt - case.weekly_mt
        granted = _hours(mt=case.recommended_mt, special_ed=case.weekly_special_ed)
        self.tick()
        self.m.amend_vedtak(
            self.rektor,
            case.vedtak_id,
            hours=granted,
            organisation=self.organisation(granted),
            content="Opplæring i sosial mestring, struktur og faste voksne gjennom skoledagen.",
            reasons="Endret etter klage: timene gis slik PPT tilrådde.",
            valid_to=SCHOOL_YEAR_END,
        )
        self.tick()
        self.m.send_vedtak_notice(self.rektor, case.vedtak_id)
        case.weekly_mt = case.recommended_mt
        first = _monday_after(self.e.today)
        for member_id, given in self.make_room(Competence.MILJOTERAPEUT, extra, first):
            self.assign(
                member_id,
                "student",
                given,
                first,
                SCHOOL_YEAR_END,
                pupil=case.pupil,
                vedtak_id=case.vedtak_id,
            )

    # -- the daily rhythm -----------------------------------------------------------------------

    def plan_day(self, day: date) -> None:
        if day > TERM_FIRST:
            self.plan_observations(day)
        if day >= date(2024, 8, 26):
            self.plan_concerns(day)
        if day.isoweekday() == 5 and day >= date(2024, 8, 30):
            self.e.at(day, _hm(15, 0), self.record_deliveries)

    @abstractmethod
    def plan_rhythm(self, day: date) -> None:
        """Plan the meetings (and other routines) of ``day``, the next school day."""
        """Each school model does this its own way."""

    @abstractmethod
    def plan_storylines(self) -> None:
        """Each school model does this its own way."""

    def plan_observations(self, day: date) -> None:
        expected = self.student_count * self.observations_per_student_day
        for _ in range(self.count(expected, trials=max(12, round(expected * 3)))):
            seconds = self.rng.randrange(_hm(8, 30), _hm(15, 15))
            self.e.at(day, seconds, partial(self.observe, None, None, None))

    def pick_pupil(self) -> _Pupil | None:
        pool = self.active(self.focus) if self.rng.random() < 0.65 else self.active()
        return self.choice(pool) if pool else None

    def observer_for(self, pupil: _Pupil) -> Actor:
        if self.rng.random() < 0.5:
            return self.mt_actor(self.helper_for(pupil))
        return self.teachers[pupil.class_name]

    def observe(
        self,
        pupil: _Pupil | None,
        category: ObservationCategory | None,
        arena: Arena | None,
    ) -> None:
        chosen = pupil if pupil is not None else self.pick_pupil()
        if chosen is None or not chosen.active:
            return
        arena = arena or self.weighted(self.arenas)
        likely = ARENA_CATEGORIES.get(arena, _ANY_ARENA)
        if category is None:
            category = self.weighted(likely)
        categories = [category.value]
        if self.rng.random() < 0.25:
            second = self.weighted(likely)
            if second is not category:
                categories.append(second.value)
        if arena is Arena.ONLINE:
            text = self.choice(ONLINE_TEXTS)
        elif arena is Arena.HOME:
            text = self.choice(HOME_TEXTS)
        else:
            text = self.choice(OBSERVATION_TEXTS[category])
        voice = self.choice(VOICES) if self.rng.random() < 0.2 else None
        observed_at = self.e.clock.now() - timedelta(minutes=self.rng.randint(5, 150))
        author = self.observer_for(chosen)
        observation_id = self.m.record_observation(
            author,
            chosen.student_id,
            arena=arena.value,
            categories=categories,
            text=text,
            observed_at=observed_at,
            student_voice=voice,
        )
        chosen.observations.append(
            _Obs(observation_id, author, arena.value, categories, text, observed_at, voice)
        )

    def correct_latest_observation(self, pupil: _Pupil) -> None:
        if not pupil.active:
            return
        if not pupil.observations:
            self.observe(pupil, ObservationCategory.CONFLICT, Arena.BREAK)
            self.tick()
        latest = pupil.observations[-1]
        arena = Arena.WAY_TO_SCHOOL if latest.arena != Arena.WAY_TO_SCHOOL.value else Arena.BREAK
        self.m.correct_observation(
            latest.author,  # the author corrects her own entry (need-to-know: named)
            pupil.student_id,
            corrects=latest.observation_id,
            arena=arena.value,
            categories=latest.categories,
            text=latest.text,
            observed_at=latest.observed_at,
            student_voice=latest.voice,
            reason=(
                "Feil arena ført; hendelsen skjedde på skoleveien."
                if arena is Arena.WAY_TO_SCHOOL
                else "Feil arena ført; hendelsen skjedde i friminuttet."
            ),
        )

    def plan_concerns(self, day: date) -> None:
        for _ in range(self.count(self.concerns_per_week / 5)):
            seconds = self.rng.randrange(_hm(9, 0), _hm(14, 30))
            self.e.at(day, seconds, partial(self.raise_concern, None, None))

    def raise_concern(self, pupil: _Pupil | None, outcome: str | None) -> None:
        chosen = pupil if pupil is not None else self.pick_pupil()
        if chosen is None or not chosen.active:
            return
        if outcome is not None:
            chosen.forced_outcome = outcome
        actor = (
            self.teachers[chosen.class_name]
            if self.rng.random() < 0.6
            else self.mt_actor(self.helper_for(chosen))
        )
        concern_id = self.m.raise_concern(actor, chosen.student_id, summary=self.choice(CONCERNS))
        self.concern_queue.append((chosen, concern_id))

    def record_deliveries(self) -> None:
        """Delivered minutes per vedtak for this week (not every week gets recorded)."""
        monday = iso_week_monday(self.e.today)
        for case in self.cases:
            allocs = [
                a
                for a in self.ledger.allocs.values()
                if a.vedtak_id == case.vedtak_id and a.touches(monday)
            ]
            if not allocs or (case.vedtak_id, monday) in self.delivered_weeks:
                continue
            if self.rng.random() < 0.12:
                continue  # not recorded this week
            mt = sum(
                a.minutes
                for a in allocs
                if self.ledger.staff[a.member_id].competence is Competence.MILJOTERAPEUT
            )
            assistant = sum(
                a.minutes
                for a in allocs
                if self.ledger.staff[a.member_id].competence is Competence.ASSISTANT
            )
            if self.rng.random() < 0.15:  # sick leave or a trip: one session short
                mt = max(0, mt - 90)
            self.tick()
            self.m.record_delivery(
                self.coordinator,
                case.vedtak_id,
                week_of=monday,
                minutes=HoursByCompetence(
                    special_ed_teacher=case.weekly_special_ed,
                    miljoterapeut=mt,
                    assistant=assistant,
                ),
            )
            self.delivered_weeks.add((case.vedtak_id, monday))

    def correct_a_delivery(self) -> None:
        """Correct last week's delivery for the first case that has one."""
        last_monday = iso_week_monday(self.e.today) - timedelta(days=7)
        for case in self.cases:
            if case.weekly_mt and (case.vedtak_id, last_monday) in self.delivered_weeks:
                self.m.correct_delivery(
                    self.coordinator,
                    case.vedtak_id,
                    week_of=last_monday,
                    minutes=HoursByCompetence(
                        special_ed_teacher=case.weekly_special_ed,
                        miljoterapeut=case.weekly_mt + 45,
                        assistant=case.weekly_assistant,
                    ),
                    reason="Ekstra økt torsdag ble ikke ført.",
                )
                return

    # -- meetings ---------------------------------------------------------------------------------

    def meeting(
        self,
        day: date,
        kind: MeetingKind,
        start: int,
        minutes: int,
        build: Callable[[UUID], None],
    ) -> None:
        """Schedule a meeting today (planned one school day ahead), hold it on ``day`` at
        ``start``, close its minutes when it ends."""
        previous = self.e.today
        if day <= previous:
            return
        holder: list[UUID] = []

        def schedule() -> None:
            scheduled_at = local_instant(day, start)
            meeting_id = self.m.schedule_meeting(
                self.coordinator, school=self.code, kind=kind.value, scheduled_at=scheduled_at
            )
            self.scheduled_at[meeting_id] = scheduled_at
            holder.append(meeting_id)

        def hold() -> None:
            if holder:
                build(holder[0])

        def close() -> None:
            if holder and holder[0] not in self.cancelled:
                self.m.close_minutes(self.coordinator, holder[0])

        self.e.at(previous, _hm(15, 10), schedule)
        self.e.at(day, start, hold)
        self.e.at(day, start + minutes * 60, close)

    def participants(self, meeting_id: UUID, people: Sequence[Actor]) -> None:
        for person in people:
            self.tick()
            self.m.add_participant(
                self.coordinator, meeting_id, person_id=person.person_id, role=person.role.value
            )

    def externals(self, meeting_id: UUID, bodies: Sequence[ExternalBody]) -> None:
        for body in bodies:
            self.tick()
            self.m.add_external_participant(self.coordinator, meeting_id, body=body.value)

    def item(
        self,
        meeting_id: UUID,
        subject_kind: str,
        title: str,
        *,
        pupil: _Pupil | None = None,
        concern_id: UUID | None = None,
        anonymous: bool = False,
        trinn: int | None = None,
        class_name: str | None = None,
    ) -> UUID:
        self.tick()
        return self.m.add_agenda_item(
            self.coordinator,
            meeting_id,
            subject_kind=subject_kind,
            title=title,
            student_id=pupil.student_id if pupil is not None else None,
            anonymous=anonymous,
            trinn=trinn,
            class_name=class_name,
            concern_id=concern_id,
        )

    def note(self, meeting_id: UUID, item_id: UUID, text: str) -> None:
        self.tick()
        self.m.record_note(self.coordinator, meeting_id, item_id=item_id, text=text)

    def held(self, meeting_id: UUID) -> None:
        self.tick()
        held_at = self.scheduled_at.pop(meeting_id)
        self.m.record_meeting_held(self.coordinator, meeting_id, held_at=held_at)

    def concern_items(
        self,
        meeting_id: UUID,
        kind: MeetingKind,
        bodies: Sequence[ExternalBody],
        limit: int,
    ) -> list[tuple[UUID, _Pupil]]:
        """Put the oldest open concerns on the agenda; with external bodies present, only
        students whose consent covers every body (the others wait for another meeting)."""
        taken: list[tuple[UUID, _Pupil]] = []
        waiting: list[tuple[_Pupil, UUID]] = []
        read = False
        for pupil, concern_id in self.concern_queue:
            if not pupil.active:
                continue
            if len(taken) >= limit or (bodies and not pupil.covers(bodies, kind, self.e.today)):
                waiting.append((pupil, concern_id))
                continue
            if not read:
                self.tick()
                self.m.student_case(
                    self.coordinator, pupil.student_id, reason=f"Forberedelse til {kind.value}"
                )
                read = True
            item_id = self.item(
                meeting_id,
                "student",
                "Bekymring meldt fra kontaktlærer eller miljøterapeut",
                pupil=pupil,
                concern_id=concern_id,
            )
            taken.append((item_id, pupil))
        self.concern_queue = waiting
        return taken

    def decide_concern(self, meeting_id: UUID, item_id: UUID, pupil: _Pupil) -> None:
        """Advice, a measure with an action, or a referral; some actions completed later."""
        today = self.e.today
        outcome = pupil.forced_outcome
        pupil.forced_outcome = None
        if outcome is None:
            roll = self.rng.random()
            outcome = "advice" if roll < 0.4 else "measure" if roll < 0.8 else "referral"
        self.note(meeting_id, item_id, "Saken er drøftet; elevens egne ønsker er hørt.")
        self.tick()
        if outcome == "ppt" or (
            outcome == "referral"
            and not pupil.vedtak_ids
            and not pupil.in_pipeline
            and self.pipelines < self.extra_pipelines
            and self.may_refer_to_ppt(pupil)
            and today <= date(2024, 10, 11)
        ):
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="referral",
                text="Henvises til PPT for sakkyndig vurdering.",
            )
            if not pupil.in_pipeline:
                self.start_ppt_referral(
                    pupil, deviate=False, appeal=False, storyline=outcome == "ppt"
                )
        elif outcome == "referral":
            body = self.referral_body(pupil)
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="referral",
                text=f"Henvisning til {BODY_NAMES[body]} drøftes med foresatte og sendes.",
            )
            self.e.later(1, _hm(10, 30), partial(self.other_referral, pupil, body))
        elif outcome == "measure":
            responsible = self.helper_for(pupil)
            due = today + timedelta(days=14)
            decision_id = self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="measure",
                text=self.choice(MEASURES),
                responsible=responsible,
                due=due,
            )
            if self.rng.random() < 0.75:
                self.e.later(
                    self.rng.randint(7, 14),
                    _hm(14, 45),
                    partial(self.complete, meeting_id, decision_id),
                )
        else:
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="advice",
                text=self.choice(ADVICE),
            )

    def referral_body(self, pupil: _Pupil) -> ExternalBody:
        return self.choice((ExternalBody.BUP, ExternalBody.PSYKISK_HELSE, ExternalBody.BARNEVERN))

    def may_refer_to_ppt(self, pupil: _Pupil) -> bool:
        return True

    def other_referral(self, pupil: _Pupil, body: ExternalBody) -> None:
        if not pupil.active:
            return
        referral_id = self.m.make_referral(
            self.coordinator,
            pupil.student_id,
            body=body.value,
            reason="Henvisning etter drøfting; foresatte er informert.",
        )
        pupil.referrals += 1
        chain = partial(self.referral_status, pupil, referral_id)
        self.e.later(7, _hm(11, 30), partial(chain, "acknowledged"))
        ending = self.weighted((("accepted", 6), ("rejected", 2), ("withdrawn", 1)))
        self.e.later(self.rng.randint(18, 30), _hm(11, 30), partial(chain, ending))

    def complete(self, meeting_id: UUID, decision_id: UUID) -> None:
        self.m.complete_action(self.coordinator, meeting_id, decision_id=decision_id)

    # -- summary ----------------------------------------------------------------------------------

    def summary(self) -> SchoolDemo:
        view = self.m.school(self.office, self.code)
        end = self.e.today
        members = [
            s
            for s in self.ledger.staff.values()
            if s.joined_on <= end and (s.left_on is None or end <= s.left_on)
        ]
        pupil = self.sample_pupil or self.focus[0]
        vedtak_ids = pupil.vedtak_ids or [c.vedtak_id for c in self.cases]
        return SchoolDemo(
            code=self.code,
            name=self.name,
            model=self.model.key,
            students=view.active_students,
            classes=len(view.classes),
            team_members=len(members),
            coordinator=self.coordinator,
            rektor=self.rektor,
            sample_student_id=pupil.student_id,
            sample_vedtak_id=vedtak_ids[0] if vedtak_ids else None,
            sample_meeting_id=self.sample_meeting,
        )


# ---------------------------------------------------------------------------------------------
# Trudvang skule: general staffing in 1st grade, vedtak on trinn 2-5, SFO, weekly ressursteam
# ---------------------------------------------------------------------------------------------


class _Trudvang(_School):
    arenas = (
        (Arena.CLASSROOM, 3),
        (Arena.BREAK, 4),
        (Arena.SFO, 3),
        (Arena.WAY_TO_SCHOOL, 1),
        (Arena.HOME, 1),
        (Arena.OTHER, 1),
    )
    observations_per_student_day = 0.009
    concerns_per_week = 2

    def choose_continuing(self) -> list[_Continuing]:
        eligible = [p for p in self.pupils if p.trinn >= 2]
        count = min(len(eligible) - 2, max(3, round(len(eligible) * 0.07)))
        plans = []
        for pupil in self.rng.sample(eligible, count):
            mt = self.choice((300, 375, 450, 450, 600, 750))
            assistant = self.choice((0, 0, 0, 150))
            plans.append(self.continuing_plan(pupil, mt, assistant, self.choice((60, 90, 120))))
        return plans

    def initial_assignments(self) -> None:
        mid, first, last = self.member_id, TERM_FIRST, SCHOOL_YEAR_END
        for key, class_name in (("mt02", "1A"), ("mt03", "1B"), ("mt04", "1C")):
            self.assign(mid(key), "class", 1500, first, last, trinn=1, class_name=class_name)
        for spec in self.model.members:
            minutes = {"mt01": 300, "mt02": 600, "mt03": 600, "mt04": 600}.get(spec.key, 450)
            if spec.profession is Profession.FAGARBEIDER:
                minutes = 1200
            self.assign(mid(spec.key), "sfo", minutes, first, last)
        self.assign(mid("mt01"), "school", 750, first, None)
        self.trinn_groups = {
            trinn: self.assign(mid(key), "trinn", 150, first, last, trinn=trinn)
            for key, trinn in (("mt05", 2), ("mt06", 3), ("mt07", 4), ("mt08", 5))
        }
        # mt08 briefly holds both trinn groups during the rotation after the autumn break.
        self.ledger.held_back[mid("mt08")] = 150

    def plan_storylines(self) -> None:
        self.e.at(date(2024, 8, 21), _hm(8, 30), self.ppt_consents)
        self.e.at(date(2024, 9, 2), _hm(10, 0), self.story_referral)
        self.e.at(date(2024, 9, 9), _hm(10, 15), self.story_bullying)
        self.e.at(date(2024, 9, 10), _hm(13, 30), self.story_correction)
        self.e.at(date(2024, 9, 27), _hm(14, 0), self.story_rotation)
        self.e.at(date(2024, 11, 4), _hm(9, 0), self.correct_a_delivery)

    def ppt_consents(self) -> None:
        """Guardians of students with a vedtak consent to working with PPT."""
        for case in self.cases:
            self.record_consent(case.pupil, "body", "ppt", "Samtykke til samarbeid med PPT.")

    def story_referral(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 2])
        self.sample_pupil = pupil
        for category in (ObservationCategory.SOCIAL, ObservationCategory.BEHAVIOUR):
            self.observe(pupil, category, Arena.SFO)
            self.tick()
        self.raise_concern(pupil, "ppt")

    def story_bullying(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 4])
        self.observe(pupil, ObservationCategory.BULLYING, Arena.BREAK)
        self.e.later(
            2, _hm(11, 0), partial(self.observe, pupil, ObservationCategory.BULLYING, Arena.SFO)
        )
        self.e.later(2, _hm(11, 30), partial(self.raise_concern, pupil, "measure"))
        self.e.later(7, _hm(10, 0), partial(self.aktivitetsplan, pupil))

    def aktivitetsplan(self, pupil: _Pupil) -> None:
        helper = self.helper_for(pupil)
        plan_id = self.m.create_aktivitetsplan(
            self.rektor,
            pupil.student_id,
            problem="Eleven opplever ikke et trygt og godt skolemiljø; blir utestengt og "
            "kommentert i friminutt og SFO.",
            measures=[
                "Fast voksen ute i alle friminutt",
                "Samtaler med de involverte elevene og deres foresatte",
                "Vennegruppe en gang i uka med miljøterapeut",
            ],
            when="Fra 16. september, i minst fire uker",
            responsible=helper,
            evaluation_date=self.e.today + timedelta(days=28),
        )
        self.e.later(28, _hm(13, 0), partial(self.evaluate_plan, pupil, plan_id, 35))
        self.e.later(91, _hm(13, 0), partial(self.close_plan, pupil, plan_id))

    def evaluate_plan(self, pupil: _Pupil, plan_id: UUID, next_in: int | None) -> None:
        if not pupil.active:
            return
        self.m.evaluate_aktivitetsplan(
            self.rektor,
            pupil.student_id,
            plan_id=plan_id,
            assessment="Eleven sier det er bedre i friminuttene; tiltakene videreføres.",
            next_evaluation_date=self.e.today + timedelta(days=next_in) if next_in else None,
        )
        if next_in:
            self.e.later(next_in, _hm(13, 0), partial(self.evaluate_plan, pupil, plan_id, None))

    def close_plan(self, pupil: _Pupil, plan_id: UUID) -> None:
        if pupil.active:
            self.m.close_aktivitetsplan(
                self.rektor,
                pupil.student_id,
                plan_id=plan_id,
                reason="Eleven og foresatte opplever at skolemiljøet nå er trygt og godt.",
            )

    def story_correction(self) -> None:
        pupil = self.sample_pupil or self.focus[0]
        self.correct_latest_observation(pupil)

    def story_rotation(self) -> None:
        """After the autumn break, the trinn 4 and trinn 5 groups change hands."""
        monday = date(2024, 10, 7)
        four, five = self.trinn_groups[4], self.trinn_groups[5]
        to_five = self.ledger.allocs[four].member_id
        to_four = self.ledger.allocs[five].member_id
        self.trinn_groups[4] = self.rotate(four, to_four, monday)
        self.trinn_groups[5] = self.rotate(five, to_five, monday)
        self.ledger.held_back.pop(to_four, None)

    def plan_rhythm(self, day: date) -> None:
        week = day.isocalendar().week
        if day.isoweekday() == 2 and day >= date(2024, 8, 27):
            with_ppt = week % 2 == 1
            self.meeting(
                day,
                MeetingKind.RESSURSTEAM,
                _hm(12, 30),
                60,
                partial(self.ressursteam, week, with_ppt),
            )
        if day.isoweekday() == 4 and day >= date(2024, 8, 22):
            self.meeting(
                day, MeetingKind.TEAMMOTE, _hm(14, 30), 60, partial(self.team_meeting, week)
            )

    def ressursteam(self, week: int, with_ppt: bool, meeting_id: UUID) -> None:
        self.participants(meeting_id, [self.sped, self.rektor, self.inspektor, self.coordinator])
        bodies = [ExternalBody.PPT] if with_ppt else []
        self.externals(meeting_id, bodies)
        kind = MeetingKind.RESSURSTEAM
        theme = TRUDVANG_WHEEL.get(week)
        theme_item = self.item(meeting_id, "theme", theme) if theme else None
        concerns = self.concern_items(meeting_id, kind, bodies, limit=5)
        followups: list[tuple[UUID, _Pupil]] = []
        if with_ppt:
            covered = [
                c.pupil
                for c in self.cases
                if c.pupil.active and c.pupil.covers(bodies, kind, self.e.today)
            ]
            for pupil in self.rng.sample(covered, min(2, len(covered))):
                followups.append(
                    (self.item(meeting_id, "student", "Oppfølging av vedtak", pupil=pupil), pupil)
                )
        self.held(meeting_id)
        if theme_item is not None:
            self.note(meeting_id, theme_item, "Plan for perioden gjennomgått; ansvar fordelt.")
        for item_id, pupil in concerns:
            self.decide_concern(meeting_id, item_id, pupil)
        for item_id, _pupil in followups:
            self.note(meeting_id, item_id, "PPT og skolen gikk gjennom hvordan vedtaket virker.")
            self.tick()
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="vedtak_process",
                text="Vedtaket videreføres; evalueres i januar.",
            )
        if self.sample_meeting is None and concerns:
            self.sample_meeting = meeting_id
        if week == 38:
            self.e.later(1, _hm(9, 0), partial(self.amend, meeting_id, theme_item))

    def amend(self, meeting_id: UUID, item_id: UUID | None) -> None:
        self.m.amend_minutes(
            self.coordinator,
            meeting_id,
            item_id=item_id,
            text="Tiltaket i referatet gjelder 3B, ikke 3A.",
            reason="Feil klasse i referatet.",
        )

    def team_meeting(self, week: int, meeting_id: UUID) -> None:
        people = [self.mt_actor(m) for m in self.mts()]
        self.participants(meeting_id, people)
        item_id = self.item(meeting_id, "theme", TEAM_TOPICS[week % len(TEAM_TOPICS)])
        self.held(meeting_id)
        self.note(meeting_id, item_id, "Felles møtetid: erfaringer delt og neste uke planlagt.")


# ---------------------------------------------------------------------------------------------
# Gjesdal ungdomsskole: morgenmøte, ressursteam every 2nd week, arbeidslag every 3rd week
# ---------------------------------------------------------------------------------------------

ARBEIDSLAG_BODIES: Final = (
    ExternalBody.BARNEVERN,
    ExternalBody.PPT,
    ExternalBody.PSYKISK_HELSE,
    ExternalBody.FAMILIEVERN,
)


class _Gjesdal(_School):
    observations_per_student_day = 0.009
    concerns_per_week = 3

    def __init__(
        self, engine: _Engine, model: SchoolModel, copy: int, seed: int, students_factor: float
    ) -> None:
        super().__init__(engine, model, copy, seed, students_factor)
        self.arbeidslag_queue: list[_Pupil] = []

    def choose_continuing(self) -> list[_Continuing]:
        count = min(len(self.pupils) - 3, max(4, round(len(self.pupils) * 0.06)))
        chosen = self.rng.sample(self.pupils, count)
        plans = []
        for n, pupil in enumerate(chosen):
            if n < max(1, count // 7):  # personal assistance (§ 11-4): no PPT recommendation
                granted = _hours(assistant=self.choice((300, 450)))
                plans.append(_Continuing(pupil, "personal_assistance", None, granted, None))
                continue
            mt = self.choice((300, 375, 450, 450, 525, 600))
            assistant = self.choice((0, 0, 0, 150))
            plans.append(self.continuing_plan(pupil, mt, assistant, self.choice((60, 90, 120))))
        return plans

    def initial_assignments(self) -> None:
        mid, first, last = self.member_id, TERM_FIRST, SCHOOL_YEAR_END
        self.assign(mid("mt01"), "school", 600, first, None)
        for key, class_name in (
            ("as01", "8A"),
            ("as02", "8C"),
            ("as03", "9A"),
            ("as04", "9D"),
            ("as05", "10B"),
            ("as06", "10C"),
        ):
            spec = next(c for c in self.model.classes if c.name == class_name)
            self.assign(
                mid(key), "class", 600, first, last, trinn=spec.trinn, class_name=class_name
            )

    def plan_storylines(self) -> None:
        self.e.at(date(2024, 8, 27), _hm(10, 0), self.arbeidslag_consents)
        self.e.at(date(2024, 9, 2), _hm(9, 30), self.story_referral)
        self.e.at(date(2024, 9, 12), _hm(13, 30), self.story_correction)
        self.e.at(date(2024, 9, 16), _hm(10, 0), self.story_exclusion)
        self.e.at(date(2024, 10, 11), _hm(12, 0), self.story_class_change)
        self.e.at(date(2024, 10, 28), _hm(9, 0), self.story_staff_change)
        self.e.at(date(2024, 10, 31), _hm(15, 0), self.story_leaving)
        self.e.at(date(2024, 11, 12), _hm(10, 0), self.story_withdrawal)
        self.e.at(date(2024, 11, 4), _hm(9, 0), self.correct_a_delivery)

    def arbeidslag_consents(self) -> None:
        """Some guardians consent to their child being discussed by name in the arbeidslag."""
        candidates = [c.pupil for c in self.cases][:8]
        for pupil in candidates[: max(2, len(candidates) * 5 // 8)]:
            self.record_consent(
                pupil,
                "meeting_kind",
                "arbeidslag",
                "Samtykke til drøfting med navn i arbeidslaget.",
            )
            self.arbeidslag_queue.append(pupil)

    def story_referral(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 9])
        self.sample_pupil = pupil
        self.observe(pupil, ObservationCategory.ABSENCE, Arena.CLASSROOM)
        self.tick()
        self.observe(pupil, ObservationCategory.WELLBEING, Arena.BREAK)
        self.tick()
        self.raise_concern(pupil, "ppt-appeal")

    def decide_concern(self, meeting_id: UUID, item_id: UUID, pupil: _Pupil) -> None:
        if pupil.forced_outcome == "ppt-appeal":
            pupil.forced_outcome = None
            self.note(meeting_id, item_id, "Saken er drøftet; elevens egne ønsker er hørt.")
            self.tick()
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="referral",
                text="Henvises til PPT for sakkyndig vurdering.",
            )
            self.start_ppt_referral(pupil, deviate=True, appeal=True, storyline=True)
            return
        if pupil.forced_outcome is None and self.rng.random() < 0.15:
            self.note(meeting_id, item_id, "Saken er drøftet; foresatte spørres om samtykke.")
            self.tick()
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="arbeidslag",
                text="Tas opp i arbeidslaget; med navn bare om foresatte samtykker.",
            )
            self.e.later(2, _hm(10, 0), partial(self.ask_consent, pupil))
            return
        super().decide_concern(meeting_id, item_id, pupil)

    def ask_consent(self, pupil: _Pupil) -> None:
        if not pupil.active:
            return
        if self.rng.random() < 0.6 and not pupil.covers(
            ARBEIDSLAG_BODIES, MeetingKind.ARBEIDSLAG, self.e.today
        ):
            self.record_consent(
                pupil,
                "meeting_kind",
                "arbeidslag",
                "Samtykke til drøfting med navn i arbeidslaget.",
            )
        self.arbeidslag_queue.append(pupil)

    def story_correction(self) -> None:
        self.correct_latest_observation(self.sample_pupil or self.focus[0])

    def story_exclusion(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 8])
        self.observe(pupil, ObservationCategory.SOCIAL, Arena.ONLINE)
        self.tick()
        plan_id = self.m.create_aktivitetsplan(
            self.inspektor,
            pupil.student_id,
            problem="Eleven holdes utenfor i klassen og i klassens gruppechat.",
            measures=[
                "Samtaler med eleven hver uke",
                "Klassemøte om nettvett og inkludering",
                "Miljøterapeut følger opp i friminutt",
            ],
            when="Fra 16. september til høstferien, deretter vurdering",
            responsible=self.helper_for(pupil),
            evaluation_date=date(2024, 10, 21),
        )
        self.e.at(date(2024, 10, 21), _hm(13, 0), partial(self.evaluate_plan, pupil, plan_id))

    def evaluate_plan(self, pupil: _Pupil, plan_id: UUID) -> None:
        if pupil.active:
            self.m.evaluate_aktivitetsplan(
                self.inspektor,
                pupil.student_id,
                plan_id=plan_id,
                assessment="Delvis bedre: eleven er med i klassens aktiviteter, men chatten "
                "er fortsatt vanskelig. Tiltakene videreføres.",
                next_evaluation_date=date(2024, 12, 9),
            )

    def story_class_change(self) -> None:
        pupils = [p for p in self.active(self.by_class["9B"]) if not p.reserved]
        if not pupils:
            return
        pupil = self.choice(pupils)
        self.m.change_class(
            self.office,
            pupil.student_id,
            trinn=9,
            class_name="9C",
            effective_from=date(2024, 10, 14),
        )
        self.by_class["9B"].remove(pupil)
        self.by_class["9C"].append(pupil)
        pupil.class_name = "9C"

    def story_staff_change(self) -> None:
        """mt05 is leaving; a new miljøterapeut starts 4 November and mt07 goes up to 85 %."""
        self.ledger.staff[self.member_id("mt05")].leaving = True
        self.add_member("mt08", Profession.BARNEVERNSPEDAGOG, 85, date(2024, 11, 4))
        self.tick()
        self.m.change_position(
            self.coordinator,
            school=self.code,
            member_id=self.member_id("mt07"),
            position_percent=85,
            effective_from=date(2024, 11, 4),
        )
        self.ledger.change_position(self.member_id("mt07"), 85, date(2024, 11, 4))
        self.handover()

    def handover(self) -> None:
        """mt05's assignments go to the new colleague from the day she starts."""
        on = date(2024, 11, 4)
        leaver = self.member_id("mt05")
        for alloc in list(self.ledger.allocs.values()):
            if (
                alloc.member_id == leaver
                and alloc.first <= on
                and (alloc.last is None or alloc.last >= on)
            ):
                self.rotate(alloc.assignment_id, self.member_id("mt08"), on)

    def story_leaving(self) -> None:
        leaver = self.member_id("mt05")
        self.m.record_member_left(
            self.coordinator, school=self.code, member_id=leaver, left_on=date(2024, 10, 31)
        )
        self.ledger.member_left(leaver, date(2024, 10, 31))

    def story_withdrawal(self) -> None:
        for pupil in self.arbeidslag_queue:
            for consent in pupil.consents:
                if consent.scope == "arbeidslag" and consent.withdrawn_on is None and pupil.active:
                    self.m.withdraw_consent(
                        self.coordinator, pupil.student_id, consent_id=consent.consent_id
                    )
                    consent.withdrawn_on = self.e.today
                    return

    def plan_rhythm(self, day: date) -> None:
        week = day.isocalendar().week
        weekday = day.isoweekday()
        if day > TERM_FIRST:
            self.meeting(day, MeetingKind.MORGENMOTE, _hm(8, 0), 20, self.morning_meeting)
        if weekday == 2 and day >= date(2024, 8, 27):
            self.meeting(day, MeetingKind.TEAMMOTE, _hm(14, 0), 60, partial(self.team_time, week))
        if weekday == 3 and week % 2 == 0 and day >= date(2024, 8, 26):
            self.meeting(
                day, MeetingKind.RESSURSTEAM, _hm(13, 0), 75, partial(self.ressursteam, week)
            )
        if weekday == 4 and week % 3 == 0:
            self.meeting(day, MeetingKind.ARBEIDSLAG, _hm(12, 0), 90, self.arbeidslag)

    def morning_meeting(self, meeting_id: UUID) -> None:
        if self.e.today == date(2024, 11, 15):
            self.m.cancel_meeting(
                self.coordinator, meeting_id, reason="Fagdag for hele personalet."
            )
            self.cancelled.add(meeting_id)
            return
        item_id = self.item(meeting_id, "theme", "Dagens timeplan og fordeling av oppgaver")
        self.held(meeting_id)
        absent = self.choice(self.mts())
        cover = self.choice([m for m in self.mts() if m != absent] or [absent])
        self.note(
            meeting_id,
            item_id,
            f"{cover} dekker for {absent} i 3. og 4. time; alle ute i storefri.",
        )

    def team_time(self, week: int, meeting_id: UUID) -> None:
        people = [self.mt_actor(m) for m in self.mts()]
        if week % 2:
            people += [self.teachers["8A"], self.teachers["9B"]]
        self.participants(meeting_id, people)
        title = "Tid med lærerne" if week % 2 else "Teamtid"
        item_id = self.item(meeting_id, "theme", title)
        self.held(meeting_id)
        self.note(meeting_id, item_id, TEAM_TOPICS[week % len(TEAM_TOPICS)])

    def ressursteam(self, week: int, meeting_id: UUID) -> None:
        """Walk through every trinn and class, then the new concerns."""
        self.participants(
            meeting_id, [self.coordinator, self.sped, self.inspektor, self.inspektor2]
        )
        walk: list[tuple[UUID, str]] = []
        for trinn in range(8, 11):
            walk.append(
                (
                    self.item(meeting_id, "trinn", f"Gjennomgang av {trinn}. trinn", trinn=trinn),
                    f"{trinn}. trinn",
                )
            )
            for spec in self.model.classes:
                if spec.trinn == trinn:
                    walk.append(
                        (
                            self.item(
                                meeting_id,
                                "class",
                                f"Klassen {spec.name}",
                                trinn=trinn,
                                class_name=spec.name,
                            ),
                            spec.name,
                        )
                    )
        concerns = self.concern_items(meeting_id, MeetingKind.RESSURSTEAM, [], limit=6)
        self.held(meeting_id)
        for item_id, name in walk:
            self.note(meeting_id, item_id, f"I {name}: {self.choice(CLASS_MOODS)}.")
        uneasy = [(i, n) for i, n in walk if n[0].isdigit() and not n.endswith("trinn")]
        item_id, name = self.choice(uneasy)
        self.tick()
        decision_id = self.m.record_decision(
            self.coordinator,
            meeting_id,
            item_id=item_id,
            outcome="measure",
            text=f"Miljøterapeut er med i {name} to økter i uka for å styrke klassemiljøet.",
            responsible=self.choice(self.mts()),
            due=self.e.today + timedelta(days=21),
        )
        self.e.later(
            self.rng.randint(10, 21), _hm(14, 50), partial(self.complete, meeting_id, decision_id)
        )
        for item_id, pupil in concerns:
            self.decide_concern(meeting_id, item_id, pupil)
        if self.sample_meeting is None and concerns:
            self.sample_meeting = meeting_id

    def arbeidslag(self, meeting_id: UUID) -> None:
        """With barnevern, PPT, psykisk helse and familievern: named only with consent."""
        self.participants(meeting_id, [self.coordinator, self.rektor])
        self.externals(meeting_id, ARBEIDSLAG_BODIES)
        today, kind = self.e.today, MeetingKind.ARBEIDSLAG
        items: list[UUID] = []
        queue, self.arbeidslag_queue = self.arbeidslag_queue, []
        for pupil in queue:
            if not pupil.active:
                continue
            if pupil.covers(ARBEIDSLAG_BODIES, kind, today):
                items.append(self.item(meeting_id, "student", "Drøfting med samtykke", pupil=pupil))
                if any(c.scope == "arbeidslag" and c.withdrawn_on is None for c in pupil.consents):
                    self.arbeidslag_queue.append(pupil)  # followed up again next time
            else:
                items.append(
                    self.item(
                        meeting_id,
                        "student",
                        f"Anonym drøfting: elev på {pupil.trinn}. trinn",
                        anonymous=True,
                        trinn=pupil.trinn,
                    )
                )
        items.append(
            self.item(
                meeting_id,
                "student",
                "Anonym drøfting: elev med høyt fravær",
                anonymous=True,
                trinn=self.choice((8, 9, 10)),
            )
        )
        self.held(meeting_id)
        for item_id in items:
            self.note(
                meeting_id,
                item_id,
                "Tjenestene ga råd om videre oppfølging og hvem som tar kontakt.",
            )
            self.tick()
            self.m.record_decision(
                self.coordinator,
                meeting_id,
                item_id=item_id,
                outcome="advice",
                text="Skolen følger opp med foresatte; tas opp igjen ved behov.",
            )


# ---------------------------------------------------------------------------------------------
# Strinda vgs: three miljøveiledere, 20 % STO and 80 % school-wide, weekly elevtjeneste
# ---------------------------------------------------------------------------------------------


class _Strinda(_School):
    arenas = (
        (Arena.CLASSROOM, 4),
        (Arena.BREAK, 2),
        (Arena.ONLINE, 2),
        (Arena.HOME, 1),
        (Arena.OTHER, 3),
    )
    observations_per_student_day = 0.004
    concerns_per_week = 3
    extra_pipelines = 0
    STO_MINUTES: Final = 225
    SCHOOL_MINUTES: Final = 1800

    def __init__(
        self, engine: _Engine, model: SchoolModel, copy: int, seed: int, students_factor: float
    ) -> None:
        super().__init__(engine, model, copy, seed, students_factor)
        self.leader = self.coordinator
        self.counsellors = [
            self.staff(f"{self.code}.radgiver{i}", Role.LAERER) for i in range(1, 5)
        ]
        self.ot = self.staff(f"{self.code}.ot", Role.LAERER)
        self.school_wide: dict[str, UUID] = {}

    def sto_pupils(self) -> list[_Pupil]:
        return [p for name in STO_CLASSES for p in self.by_class[name]]

    def choose_continuing(self) -> list[_Continuing]:
        sto = self.sto_pupils()
        count = max(1, min(6, len(sto) - 1))
        return [
            _Continuing(
                pupil,
                "individually_adapted_education",
                _hours(mt=self.STO_MINUTES, special_ed=900),
                _hours(mt=self.STO_MINUTES, special_ed=900),
                None,
            )
            for pupil in self.rng.sample(sto, count)
        ]

    def initial_assignments(self) -> None:
        for spec in self.model.members:
            member_id = self.member_id(spec.key)
            self.school_wide[member_id] = self.assign(
                member_id, "school", self.SCHOOL_MINUTES, TERM_FIRST, SCHOOL_YEAR_END
            )

    def observer_for(self, pupil: _Pupil) -> Actor:
        if self.rng.random() < 0.4:
            return self.mt_actor(self.helper_for(pupil))
        return self.teachers[pupil.class_name]

    def referral_body(self, pupil: _Pupil) -> ExternalBody:
        return self.choice((ExternalBody.BUP, ExternalBody.PSYKISK_HELSE, ExternalBody.NAV))

    def new_vedtak_minutes(self) -> int:
        return self.STO_MINUTES

    def may_refer_to_ppt(self, pupil: _Pupil) -> bool:
        return pupil.class_name in STO_CLASSES

    def make_room(self, competence: Competence, minutes: int, first: date) -> list[tuple[str, int]]:
        """No free hours: move time from a miljøveileder's school-wide work to the student."""
        picked = super().make_room(competence, minutes, first)
        if (
            sum(given for _, given in picked) >= minutes
            or competence is not Competence.MILJOTERAPEUT
        ):
            return picked
        member_id = sorted(
            self.school_wide, key=lambda m: (-self.ledger.allocs[self.school_wide[m]].minutes, m)
        )[0]
        old = self.ledger.allocs[self.school_wide[member_id]]
        self.tick()
        self.m.end_assignment(
            self.leader,
            school=self.code,
            assignment_id=old.assignment_id,
            ended_on=first - ONE_DAY,
            reason="reallocation",
        )
        self.ledger.end(old.assignment_id, first - ONE_DAY)
        self.school_wide[member_id] = self.assign(
            member_id, "school", old.minutes - minutes, first, SCHOOL_YEAR_END
        )
        return [(member_id, minutes)]

    def plan_storylines(self) -> None:
        self.e.at(date(2024, 9, 6), _hm(10, 0), self.story_referral)
        self.e.at(date(2024, 9, 9), _hm(11, 0), self.story_physical)
        self.e.at(date(2024, 9, 17), _hm(13, 30), self.story_correction)
        self.e.at(date(2024, 9, 24), _hm(10, 0), self.story_bup)
        self.e.at(date(2024, 10, 15), _hm(12, 0), self.story_departure)
        self.e.at(date(2024, 10, 21), _hm(10, 0), self.story_online)
        self.e.at(date(2024, 11, 11), _hm(9, 0), self.story_newcomer)
        self.e.at(date(2024, 11, 4), _hm(9, 0), self.correct_a_delivery)

    def story_referral(self) -> None:
        pupil = self.reserve(self.sto_pupils())
        self.sample_pupil = pupil
        self.observe(pupil, ObservationCategory.WELLBEING, Arena.OTHER)
        self.tick()
        self.raise_concern(pupil, "ppt")

    def story_physical(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 12])
        vedtak_id = self.m.open_vedtak(self.leader, pupil.student_id, kind="physical_adaptation")
        self.tick()
        self.m.decide_vedtak(
            self.rektor,
            vedtak_id,
            hours=HoursByCompetence(),
            organisation=self.organisation(HoursByCompetence()),
            content="Hev/senk-pult, eget grupperom ved prøver og heis-tilgang.",
            reasons="Eleven har behov for fysisk tilrettelegging etter skade.",
            valid_from=_monday_after(self.e.today),
            valid_to=SCHOOL_YEAR_END,
        )
        self.tick()
        self.m.send_vedtak_notice(self.rektor, vedtak_id)
        pupil.vedtak_ids.append(vedtak_id)

    def story_correction(self) -> None:
        self.correct_latest_observation(self.sample_pupil or self.focus[0])

    def story_bup(self) -> None:
        """A student (over 16) consents to a BUP referral, which BUP turns down."""
        pupil = self.reserve([p for p in self.pupils if p.trinn == 11])
        self.record_consent(pupil, "body", "bup", "Eleven samtykker selv til henvisning til BUP.")
        self.tick()
        referral_id = self.m.make_referral(
            self.leader, pupil.student_id, body="bup", reason="Vedvarende tristhet og søvnvansker."
        )
        pupil.referrals += 1
        chain = partial(self.referral_status, pupil, referral_id)
        self.e.later(7, _hm(11, 0), partial(chain, "acknowledged"))
        self.e.later(27, _hm(11, 0), partial(chain, "rejected"))

    def story_departure(self) -> None:
        pupils = [p for p in self.active() if p.trinn == 12 and not p.focus and not p.reserved]
        if not pupils:
            return
        pupil = self.choice(pupils)
        self.m.record_departure(self.office, pupil.student_id, kind="left")
        pupil.active = False

    def story_online(self) -> None:
        pupil = self.reserve([p for p in self.pupils if p.trinn == 11])
        self.observe(pupil, ObservationCategory.BULLYING, Arena.ONLINE)
        self.tick()
        self.m.create_aktivitetsplan(
            self.leader,
            pupil.student_id,
            problem="Eleven blir hengt ut i sosiale medier av medelever.",
            measures=[
                "Samtaler med eleven og de involverte",
                "Foresatte informeres",
                "Miljøveileder følger opp ukentlig",
            ],
            when="Fra 21. oktober",
            responsible=self.member_id("mv01"),
            evaluation_date=date(2024, 11, 18),
        )

    def story_newcomer(self) -> None:
        spec = next(c for c in self.model.classes if c.name == "1STB")
        self.register(spec, self.new_name(), self.e.today)
        self.e.total += 1

    def plan_rhythm(self, day: date) -> None:
        if day.isoweekday() == 1 and day >= date(2024, 8, 26):
            self.meeting(
                day,
                MeetingKind.ELEVTJENESTE,
                _hm(12, 0),
                60,
                partial(self.elevtjeneste, day.isocalendar().week),
            )
        if day.isoweekday() == 3 and self.rng.random() < 0.6:
            self.e.at(day, _hm(13, 0), self.open_door)

    def elevtjeneste(self, week: int, meeting_id: UUID) -> None:
        mvs = [self.mt_actor(m) for m in self.mts()]
        self.participants(meeting_id, [self.leader, *self.counsellors, self.ot, *mvs])
        theme = STRINDA_THEMES.get(week)
        theme_item = self.item(meeting_id, "theme", theme) if theme else None
        concerns = self.concern_items(meeting_id, MeetingKind.ELEVTJENESTE, [], limit=6)
        self.held(meeting_id)
        if theme_item is not None:
            self.note(meeting_id, theme_item, "Drøftet; rådgiverne tar det videre i klassene.")
        for item_id, pupil in concerns:
            if pupil.forced_outcome is None and self.rng.random() < 0.25:
                self.home_visit(meeting_id, item_id, pupil)
            else:
                self.decide_concern(meeting_id, item_id, pupil)
        if self.sample_meeting is None and concerns:
            self.sample_meeting = meeting_id

    def home_visit(self, meeting_id: UUID, item_id: UUID, pupil: _Pupil) -> None:
        self.note(meeting_id, item_id, "Eleven har ikke vært på skolen på flere dager.")
        self.tick()
        responsible = self.choice(self.mts())
        decision_id = self.m.record_decision(
            self.leader,
            meeting_id,
            item_id=item_id,
            outcome="measure",
            text="Miljøveileder gjør hjemmebesøk denne uka.",
            responsible=responsible,
            due=self.e.today + timedelta(days=7),
        )
        self.e.later(
            self.rng.randint(1, 4),
            _hm(14, 0),
            partial(self.visit_done, meeting_id, decision_id, pupil),
        )

    def visit_done(self, meeting_id: UUID, decision_id: UUID, pupil: _Pupil) -> None:
        self.observe(pupil, ObservationCategory.ABSENCE, Arena.HOME)
        self.tick()
        self.complete(meeting_id, decision_id)

    def open_door(self) -> None:
        """Open-door support talks with the miljøveiledere."""
        pupil = self.pick_pupil()
        if pupil is not None:
            self.observe(pupil, ObservationCategory.WELLBEING, Arena.OTHER)


_KINDS: Final[dict[str, type[_School]]] = {
    "trudvang": _Trudvang,
    "gjesdal": _Gjesdal,
    "strinda": _Strinda,
}

# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def build_demo(
    miljo: Miljo,
    *,
    seed: int,
    clock: SimulatedClock,
    progress: Callable[[int, int], None] | None = None,
    scale: int = 1,
    students_factor: float = 1.0,
    until: date = TERM_LAST,
) -> DemoSummary:
    """Fill an empty store with ``scale`` copies of the three school models over one autumn
    term. ``miljo`` must use ``clock`` (and, for reproducible ids, ``SeededIds(seed)``).

    ``progress(done, total)`` is called as students are registered and as each school day
    is simulated. ``students_factor`` scales the number of students; ``until`` stops the
    simulation after that school day (both for benchmarks and tests; the defaults build the
    seed's sizes over the whole term).
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError("scale must be a whole number from 1")
    if not students_factor > 0:
        raise ValueError("students_factor must be more than 0")
    if not TERM_FIRST <= until <= TERM_LAST:
        raise ValueError(f"until must be within the term {TERM_FIRST}..{TERM_LAST}")
    if miljo.clock is not clock:
        raise ValueError("the store must use the simulated clock given to build_demo")
    if miljo.event_count() != 0:
        raise ValueError("build_demo needs an empty store")
    if clock.now() > local_instant(TERM_FIRST, DAY_START):
        raise ValueError("the simulated clock must not start after the first school day")
    days = school_days(TERM_FIRST, until)
    engine = _Engine(miljo, clock, days, progress)
    schools = [
        _KINDS[model.key](engine, model, copy, seed, students_factor)
        for copy in range(1, scale + 1)
        for model in MODELS
    ]
    students = sum(s.student_count for s in schools)
    per_day = max(1, students // len(days))
    engine.total = students + per_day * len(days)
    engine.report(0)
    for school in schools:
        school.plan_setup()
    for n, day in enumerate(days):
        engine.today = day
        tomorrow = days[n + 1] if n + 1 < len(days) else None
        for school in schools:
            school.plan_day(day)
            if tomorrow is not None:
                school.plan_rhythm(tomorrow)  # meetings are scheduled the day before
        engine.run_day(day)
        engine.report(per_day)
    engine.done = engine.total
    engine.report(0)
    return DemoSummary(
        seed=seed,
        scale=scale,
        schools=len(schools),
        students=sum(s.registered for s in schools),
        events=miljo.event_count(),
        first_day=days[0],
        last_day=days[-1],
        per_school=tuple(s.summary() for s in schools),
    )
