"""The CLI's composition: a typed context object that opens the store lazily.

The global options (``--store``, ``--as``, ``--debug``) land in one :class:`CliContext`, handed
to every command with :data:`pass_cli`. The store is opened on first use, so ``--help`` and
usage errors never touch it, and closed when the command ends.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Final

import attrs
import click

from adapters.bootstrap import StoreLocation, open_store, resolve_store
from domain.facade import Miljo
from domain.policy import is_school_bound
from domain.ports import Clock
from domain.values import Actor

#: Testing aid: an ISO 8601 instant with offset. When set, the store's clock stands still at
#: that instant (deterministic times in tests and demos). Read here only.
FAKE_NOW_ENV: Final = "MILJO_FAKE_NOW"


class FixedClock:
    """A clock that always returns the same aware instant (``MILJO_FAKE_NOW``)."""

    def __init__(self, now: datetime) -> None:
        self._now = now

    def now(self) -> datetime:
        return self._now


class UnusedHasher:
    """For commands that read only store metadata (``store info``): needs no key files."""

    def digest(self, purpose: str, value: str) -> str:
        raise RuntimeError("store metadata commands must not resolve student numbers")


def fake_clock_from_env() -> Clock | None:
    """A :class:`FixedClock` when ``MILJO_FAKE_NOW`` is set, else None (the system clock)."""
    text = os.environ.get(FAKE_NOW_ENV)
    if not text:
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        raise click.UsageError(f"{FAKE_NOW_ENV} must be an ISO 8601 instant") from None
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise click.UsageError(f"{FAKE_NOW_ENV} must include a UTC offset")
    return FixedClock(instant)


@attrs.define
class CliContext:
    """What every command needs: where the store is, who acts, and the opened facade."""

    store: str | None = None
    actor_text: str | None = None
    debug: bool = False
    _miljo: Miljo | None = attrs.field(default=None, init=False)

    @property
    def location(self) -> StoreLocation:
        return resolve_store(self.store)

    @property
    def miljo(self) -> Miljo:
        """The facade over the store, opened on first use."""
        if self._miljo is None:
            self._miljo = open_store(self.location, clock=fake_clock_from_env())
        return self._miljo

    def open_metadata(self) -> Miljo:
        """Open the store without its keys (for ``store info``: no student data is read)."""
        if self._miljo is None:
            self._miljo = open_store(
                self.location, clock=fake_clock_from_env(), hasher=UnusedHasher()
            )
        return self._miljo

    @property
    def actor(self) -> Actor:
        """The acting person from ``--as``/``MILJO_ACTOR``: a usage error when missing, when a
        school-bound role names no school, or when a municipality-wide role (admin, auditor)
        names one (it would suggest a limit that does not exist)."""
        if not self.actor_text:
            raise click.UsageError(
                "no acting person: give --as ROLE:PERSON-ID@SCHOOL (or set MILJO_ACTOR), "
                "e.g. --as miljokoordinator:p-17@gjesdal"
            )
        actor = Actor.parse(self.actor_text)
        role = actor.role.value
        if is_school_bound(actor.role) and not actor.schools:
            raise click.UsageError(
                f"role {role} acts only for its schools: give --as {role}:PERSON-ID@SCHOOL"
                f"[,SCHOOL...] (or set MILJO_ACTOR), e.g. --as {role}:p-17@gjesdal"
            )
        if not is_school_bound(actor.role) and actor.schools:
            raise click.UsageError(
                f"role {role} acts for every school: give --as {role}:PERSON-ID without @SCHOOL"
            )
        return actor

    def close(self) -> None:
        if self._miljo is not None:
            self._miljo.close()
            self._miljo = None


pass_cli = click.make_pass_decorator(CliContext)
