"""The ressursteam overview as of a day uses only what was so on that day.

``overview --on DAY`` must not show a ressursteam held after DAY as the last one, nor count
observations and changes recorded after DAY as "since the last ressursteam", nor list concerns
raised or referrals made after DAY (domain/overview.py). The end of DAY is midnight in Norway.

Everything goes through the facade, on every store kind. Test data: Gjesdal ungdomsskole
(``conftest.build_gjesdal``); T0 is Monday 2024-08-19 08:00 UTC. Every name is invented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain.facade import Miljo
from tests.integration.conftest import GJESDAL, Gjesdal
from tests.support import ADMIN, COORDINATOR, SPED_LEAD, FakeClock

TODAY = date(2024, 8, 19)
FIRST_HELD = datetime(2024, 8, 26, 12, 0, tzinfo=UTC)  # the first ressursteam
DAY = date(2024, 9, 10)  # the day the overview is asked about
LATE_ON_DAY = datetime(2024, 9, 10, 21, 30, tzinfo=UTC)  # 23:30 in Oslo: still DAY
AFTER_DAY = datetime(2024, 9, 10, 22, 30, tzinfo=UTC)  # 00:30 on 11 September in Oslo
SECOND_HELD = datetime(2024, 9, 23, 12, 0, tzinfo=UTC)  # after DAY


def student(store: Miljo) -> UUID:
    return store.register_student(
        ADMIN,
        school=GJESDAL,
        student_number="1001",
        name="Kari Testesen",
        trinn=8,
        class_name="8c",
        registered_on=TODAY,
    )


def ressursteam_held(store: Miljo, clock: FakeClock, held_at: datetime) -> UUID:
    clock.current = held_at - timedelta(days=1)
    meeting = store.schedule_meeting(
        SPED_LEAD, school=GJESDAL, kind="ressursteam", scheduled_at=held_at
    )
    clock.current = held_at + timedelta(hours=1)
    store.record_meeting_held(SPED_LEAD, meeting, held_at=held_at)
    return meeting


def observe(store: Miljo, clock: FakeClock, kari: UUID, at: datetime, category: str) -> None:
    clock.current = at
    store.record_observation(
        COORDINATOR, kari, arena="break", categories=[category], text="Uro i friminuttet"
    )


def test_overview_on_a_day_ignores_what_was_held_or_recorded_after_it(
    store: Miljo, gjesdal: Gjesdal, clock: FakeClock
) -> None:
    # given a ressursteam held before DAY, observations on DAY (late in the evening in Oslo)
    # and after it, a concern raised and a referral made after DAY, and a second ressursteam
    # held after DAY
    kari = student(store)
    ressursteam_held(store, clock, FIRST_HELD)
    observe(store, clock, kari, datetime(2024, 9, 2, 9, 0, tzinfo=UTC), "conflict")
    observe(store, clock, kari, LATE_ON_DAY, "conflict")
    observe(store, clock, kari, AFTER_DAY, "absence")
    clock.current = AFTER_DAY + timedelta(hours=1)
    concern = store.raise_concern(COORDINATOR, kari, summary="Trekker seg unna")
    store.make_referral(COORDINATOR, kari, body="ppt", reason="Utredning")
    ressursteam_held(store, clock, SECOND_HELD)
    # when the overview is asked as of DAY
    overview = store.overview(COORDINATOR, school=GJESDAL, on=DAY)
    # then the last ressursteam is the one held before DAY, and the counts since it stop at
    # the end of DAY
    assert overview.last_ressursteam_at == FIRST_HELD
    assert overview.observations_by_category == {"conflict": 2}
    assert overview.changes_since_ressursteam == {
        "Meeting.Held": 1,  # recorded an hour after the first ressursteam was held
        "Student.ObservationRecorded": 2,
    }
    assert overview.open_concerns == []
    assert overview.pending_referrals == []
    # and as of the day after, the concern and referral are there; the last ressursteam is
    # still the first one, and the late observation counts
    after = store.overview(COORDINATOR, school=GJESDAL, on=DAY + timedelta(days=1))
    assert after.last_ressursteam_at == FIRST_HELD
    assert after.observations_by_category == {"absence": 1, "conflict": 2}
    assert [c.concern_id for c in after.open_concerns] == [concern]
    assert [r.body for r in after.pending_referrals] == ["ppt"]
    # and as of the day the second ressursteam was held, it is the last one
    latest = store.overview(COORDINATOR, school=GJESDAL, on=SECOND_HELD.date())
    assert latest.last_ressursteam_at == SECOND_HELD
    assert latest.observations_by_category == {}
