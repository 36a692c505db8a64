"""The event-sourced application: one store per school or municipality.

Configuration comes only from the ``env`` the composition root passes in (not from the
process environment), so an embedding program cannot be reconfigured by a stray variable.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from typing import Any, ClassVar, Protocol
from uuid import UUID

from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
    Repository,
)
from eventsourcing.domain import DomainEventProtocol, MutableOrImmutableAggregate, Snapshot
from eventsourcing.persistence import JSONTranscoder, Recording, StoredEvent
from eventsourcing.utils import Environment, EnvType, TopicError, strtobool

from domain.base import MiljoAggregate
from domain.casefile import VALUE_TYPES as CASEFILE_VALUE_TYPES
from domain.casefile import AccessLog, CaseFile
from domain.codec import register_value_types
from domain.meeting import VALUE_TYPES as MEETING_VALUE_TYPES
from domain.meeting import Meeting
from domain.school import School
from domain.student import VALUE_TYPES as STUDENT_VALUE_TYPES
from domain.student import Student
from domain.team import VALUE_TYPES as TEAM_VALUE_TYPES
from domain.team import Team
from domain.vedtak import VALUE_TYPES as VEDTAK_VALUE_TYPES
from domain.vedtak import Vedtak

VALUE_TYPES: tuple[type[Any], ...] = (
    *STUDENT_VALUE_TYPES,
    *VEDTAK_VALUE_TYPES,
    *TEAM_VALUE_TYPES,
    *MEETING_VALUE_TYPES,
    *CASEFILE_VALUE_TYPES,
)

_log = logging.getLogger(__name__)

#: Snapshot every N events per aggregate kind (long streams load from the newest snapshot).
SNAPSHOT_INTERVALS: dict[type[Any], int] = {
    School: 200,
    Student: 50,
    Vedtak: 50,
    Team: 100,
    Meeting: 100,
    CaseFile: 100,
    AccessLog: 200,
}


def project_events(aggregate: Any, domain_events: Iterable[Any]) -> Any:
    """Fold events into an aggregate. The library's default projector asserts
    ``isinstance(event, CanMutateProtocol)`` per event, a runtime Protocol check that cost a
    third of the CPU of replaying a long stream here; miljo's events are all
    ``MiljoAggregate.Event`` (the mapper only builds those), so the check is dropped."""
    for event in domain_events:
        aggregate = event.mutate(aggregate)
    return aggregate


#: Aggregates kept in one process's cache (least recently used go first). A cached student
#: takes about 3 kB plus 0.7 kB per observation (measured: the 10k store's 1,506 students
#: in 5.3 MB; its 1,000-event student in 690 kB). At municipal scale (about 50 events per
#: student) 2,000 students take about 70 MB: every student of the largest schools, and the
#: working set of a school's coordinators, without growing with the municipality
#: (docs/adr/0013-command-path-cache.md).
DEFAULT_CACHE_SIZE = 2000


class WriteWatch(Protocol):
    """Tells the repository whether anyone else may have written to the store.

    Returns a number that stays the same as long as no other writer (another process, or
    another connection) has committed since the previous call, and changes otherwise.
    Set by the composition root (SQLite: ``PRAGMA data_version``); without one, every
    cached aggregate is fast-forwarded from the store on every load.
    """

    def __call__(self) -> int: ...


class ScopeHook(Protocol):
    """Something that checks its own freshness once per facade call instead of on every use
    (set by the composition root; the keyring's check for another process's erasure)."""

    def hold(self) -> None:
        """A facade call starts: check at the next use, then trust until :meth:`release`."""
        ...

    def recheck(self) -> None:
        """Check again at the next use (a command is retried after a write conflict)."""
        ...

    def release(self) -> None:
        """The facade call is over: check on every use again."""
        ...

    def erasures(self) -> int:
        """How many erasures by someone else the hook has noticed so far (checked as at a
        use). When it moves, cached aggregates may hold plaintext that is erased now."""
        ...


class UntrustedSnapshot(Exception):
    """A stored snapshot the mapper will not trust: written before snapshots were bound to
    their row (``unbound``), or bound to another row, or changed outside miljo
    (docs/adr/0022-snapshots-bound-to-their-row.md). The repository ignores it and replays
    the stream from its events. The message names the stream id and version only."""

    def __init__(self, message: str, *, unbound: bool = False) -> None:
        super().__init__(message)
        self.unbound = unbound


class StreamReader(Protocol):
    """Reads a stream's newest snapshot at or below ``lte`` (None: the newest) and the
    stream's events after it (up to ``lte``), as stored, in one read of the store; and, for
    a fast-forward, the events after a version. Set by the composition root (SQLite: one
    transaction instead of the library's two; PostgreSQL: one statement, one round trip)."""

    def __call__(
        self, originator_id: UUID, lte: int | None
    ) -> tuple[StoredEvent | None, Sequence[StoredEvent]]: ...

    def after(self, originator_id: UUID, gt: int) -> Sequence[StoredEvent]:
        """The stream's events after version ``gt``, in order."""
        ...


class MiljoRepository(Repository[UUID]):
    """The library's repository with :func:`project_events` as the default projector and an
    aggregate cache the facade can use without copying (docs/adr/0013).

    * ``get(..., deepcopy_from_cache=False)`` hands out the cached object itself. Only a
      caller that holds :attr:`lock` for the whole command, and calls :meth:`evict` for
      every aggregate it loaded when the command fails before its save completed, may use it
      (``domain.facade.Miljo`` does). Every other caller gets a deep copy, as with the
      library.
    * A cached aggregate is fast-forwarded from the store only when :attr:`write_watch`
      says someone else may have written since it was last brought up to date; without a
      watch it is fast-forwarded on every load (the library's behaviour).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Held by a caller for the whole of a command or query on cached aggregates.
        self.lock = threading.RLock()
        self.write_watch: WriteWatch | None = None
        #: Reads snapshot and events of a load together; without one, the library's reads.
        self.stream_reader: StreamReader | None = None
        #: Told when a facade call (:meth:`scope`) starts, is retried and ends.
        self.scope_hooks: list[ScopeHook] = []
        self._epochs = itertools.count(1)
        #: Per cached aggregate: the watch's epoch at which it was last up to date.
        self._synced: dict[UUID, int] = {}
        self._depth = 0
        #: The watch's reading in the current scope (None: not read yet, or no scope).
        self._scope_epoch: int | None = None
        #: The hooks' erasure counts last seen, and whether this scope has compared them.
        self._erasures_seen: int | None = None
        self._erasures_checked = False

    @contextlib.contextmanager
    def scope(self) -> Iterator[None]:
        """One facade call (a command with its retries, or a query), holding :attr:`lock`.

        The write watch is read once per scope (at its first load), not per aggregate
        load, and the :attr:`scope_hooks` check their own freshness once. Reading the
        watch once is as safe as reading it per load: a write committed by someone else
        after the reading is either caught by the optimistic concurrency check of the
        save (``IntegrityError``: the command is retried after :meth:`refresh`, which
        reads the watch again) or, for an aggregate only read, is as if the write had
        committed just after this call, which a per-load reading cannot rule out either.
        """
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            self._depth = 1
            self._scope_epoch = None
            self._erasures_checked = False
            for hook in self.scope_hooks:
                hook.hold()
            try:
                yield
            finally:
                self._depth = 0
                self._scope_epoch = None
                self._erasures_checked = False
                for hook in self.scope_hooks:
                    hook.release()

    def refresh(self) -> None:
        """Read the watch, and let the hooks check, again within the current scope."""
        with self.lock:
            self._scope_epoch = None
            self._erasures_checked = False
            for hook in self.scope_hooks:
                hook.recheck()

    def _epoch(self) -> int:
        if self._scope_epoch is not None:
            return self._scope_epoch
        watch = self.write_watch
        epoch = watch() if watch is not None else -next(self._epochs)
        if self._depth:
            self._scope_epoch = epoch
        return epoch

    def _forget_if_erased(self) -> None:
        """Empty the cache if a hook noticed someone else's erasure since the last look: a
        cached aggregate may hold the erased plaintext, and a fast-forward would not remove
        it (it applies only newer events). Once per scope, like the watch."""
        if self._erasures_checked:
            return
        seen = sum(hook.erasures() for hook in self.scope_hooks)
        if self._depth:
            self._erasures_checked = True
        if seen != self._erasures_seen:
            if self._erasures_seen is not None and self.cache is not None:
                self.evict(list(self.cache.cache))
            self._erasures_seen = seen

    def get(
        self,
        aggregate_id: UUID,
        *,
        version: int | None = None,
        projector_func: Any = project_events,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        cache = self.cache
        if cache is None or version is not None:
            return self._reconstruct_aggregate(aggregate_id, version, projector_func)
        with self.lock:
            # Read the watch before the store: a write committed after this point changes
            # the next reading, so the next load fast-forwards.
            epoch = self._epoch()
            self._forget_if_erased()
            try:
                aggregate: Any = cache.get(aggregate_id)
            except KeyError:
                aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
                self._put(aggregate_id, aggregate)
            else:
                if self._synced.get(aggregate_id) != epoch:
                    reader = self.stream_reader
                    new_events: Iterable[Any] = (
                        self.event_store.get(originator_id=aggregate_id, gt=aggregate.version)
                        if reader is None
                        else map(
                            self.event_store.mapper.to_domain_event,
                            reader.after(aggregate_id, aggregate.version),
                        )
                    )
                    try:
                        aggregate = projector_func(aggregate, new_events)
                    except BaseException:
                        self.evict([aggregate_id])  # half fast-forwarded: not to be trusted
                        raise
            self._synced[aggregate_id] = epoch
            if deepcopy_from_cache and self.deepcopy_from_cache:
                return deepcopy(aggregate)
            return aggregate

    def _reconstruct_aggregate(
        self, aggregate_id: UUID, version: int | None, projector_func: Any
    ) -> Any:
        """The library's reconstruction (newest snapshot, then the events after it), with
        both read by :attr:`stream_reader` when there is one. A snapshot the mapper refuses
        (:class:`UntrustedSnapshot`) is ignored and the stream replayed from its events."""
        reader = self.stream_reader
        snapshot_store = self.snapshot_store
        if snapshot_store is None:
            return super()._reconstruct_aggregate(aggregate_id, version, projector_func)
        stored: Sequence[StoredEvent] | None = None
        if reader is not None:
            snapshot, stored = reader(aggregate_id, version)
        else:
            newest = snapshot_store.recorder.select_events(
                aggregate_id, lte=version, desc=True, limit=1
            )
            snapshot = newest[0] if newest else None
        first: Any = None
        if snapshot is not None:
            try:
                first = snapshot_store.mapper.to_domain_event(snapshot)
                if not isinstance(first, Snapshot):  # an event's row put in the snapshot table
                    raise TypeError(f"{type(first).__name__} is not a snapshot")
            except (UntrustedSnapshot, TopicError, ValueError, TypeError) as refused:
                # A cache that cannot be trusted (refused by the mapper, an unknown or an
                # event's topic, a payload that does not decode, a row that is no snapshot):
                # replay the whole stream instead. The events are the record; ``audit
                # verify`` reports the row. (The mapper logs its own refusals.)
                if not isinstance(refused, UntrustedSnapshot):
                    _log.warning(
                        "the snapshot row of stream %s at version %s is not a snapshot this "
                        "store wrote (%s); ignored, the stream is replayed from its events",
                        aggregate_id,
                        snapshot.originator_version,
                        type(refused).__name__,
                    )
                first = None
                stored = None
        events: Iterable[Any]
        if stored is None:  # the library's read of the events (after the snapshot, if any)
            after = None if first is None else first.originator_version
            events = self.event_store.get(originator_id=aggregate_id, gt=after, lte=version)
        else:
            events = map(self.event_store.mapper.to_domain_event, stored)
        if first is not None:
            events = itertools.chain((first,), events)
        aggregate = projector_func(None, events)
        if aggregate is None:
            msg = f"Aggregate {aggregate_id!r} version {version!r} not found."
            raise AggregateNotFoundError(msg)
        return aggregate

    def _put(self, aggregate_id: UUID, aggregate: Any) -> None:
        cache = self.cache
        if cache is None:
            return
        cache.put(aggregate_id, aggregate)
        if len(self._synced) > 2 * len(cache.cache) + 100:
            # Forget the epochs of aggregates the cache has let go (amortised).
            self._synced = {k: v for k, v in self._synced.items() if k in cache.cache}

    def evict(self, aggregate_ids: Iterable[UUID]) -> None:
        """Drop aggregates from the cache (a failed command may have changed them)."""
        with self.lock:
            for aggregate_id in aggregate_ids:
                self._synced.pop(aggregate_id, None)
                if self.cache is not None:
                    with contextlib.suppress(KeyError):
                        self.cache.get(aggregate_id, evict=True)

    def saved(self, aggregates: Mapping[UUID, Any]) -> None:
        """After a successful save: an aggregate saved from an object other than the cached
        one (a copy a caller loaded itself) leaves the cached one behind: drop it."""
        cache = self.cache
        if cache is None:
            return
        with self.lock:
            for aggregate_id, aggregate in aggregates.items():
                try:
                    cached: Any = cache.get(aggregate_id)
                except KeyError:
                    continue
                if cached is not aggregate:
                    self.evict([aggregate_id])


@functools.cache
def has_personal_fields(cls: type[MiljoAggregate]) -> bool:
    """Whether any event class of the aggregate class names personal fields."""
    return any(
        isinstance(value, type)
        and issubclass(value, MiljoAggregate.Event)
        and bool(value.PERSONAL_FIELDS)
        for name in dir(cls)
        if not name.startswith("__")
        for value in (getattr(cls, name, None),)
    )


#: Older snapshots are kept only at multiples of this many intervals (a ladder for as-of
#: reads); every other older snapshot is deleted once a newer one exists. Each snapshot holds
#: the whole state, so keeping all of them grows with the square of a stream's length.
SNAPSHOT_LADDER = 10


class MiljoApplication(Application[UUID]):
    name = "miljo"
    #: Set by the composition root: deletes a stream's snapshots below a version, except at
    #: multiples of a step (storage-specific, so it lives in adapters/).
    snapshot_pruner: Callable[[UUID, int, int], int] | None = None
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = SNAPSHOT_INTERVALS
    snapshotting_projectors: ClassVar[dict[type[Any], Any]] = dict.fromkeys(
        SNAPSHOT_INTERVALS, project_events
    )

    #: The repository, typed as miljo's own (the library types it as its base class).
    repository: MiljoRepository

    def construct_repository(self) -> MiljoRepository:
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return MiljoRepository(
            event_store=self.events,
            snapshot_store=self.snapshots,
            cache_maxsize=int(maxsize) if maxsize else None,
            deepcopy_from_cache=strtobool(self.env.get(self.DEEPCOPY_FROM_AGGREGATE_CACHE, "y")),
        )

    def save(
        self,
        *objs: MutableOrImmutableAggregate[UUID] | DomainEventProtocol[UUID] | None,
        **kwargs: Any,
    ) -> list[Recording[UUID]]:
        """The library's save. miljo's own aggregates are collected without the library's
        runtime-Protocol ``isinstance`` checks (a tenth of a command's CPU); anything else
        goes through the library's collection, in the given order."""
        processing_event: ProcessingEvent[UUID] = ProcessingEvent()
        for obj in objs:
            if isinstance(obj, MiljoAggregate):
                processing_event.events.extend(obj.collect_events())
                processing_event.aggregates[obj.id] = obj
            else:
                processing_event.collect_events(obj)
        processing_event.saved_kwargs.update(kwargs)
        recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        self.notify(processing_event.events)
        return recordings

    def _record(self, processing_event: ProcessingEvent[UUID]) -> list[Recording[UUID]]:
        """The library's recording, keeping the aggregate cache true to the store: an
        aggregate whose save failed (a conflict, a full disk) already holds the refused
        events' changes, so it leaves the cache; one saved from a copy replaces nothing."""
        try:
            recordings = self.events.put(
                processing_event.events,
                tracking=processing_event.tracking,
                **processing_event.saved_kwargs,
            )
        except BaseException:
            self.repository.evict(processing_event.aggregates)
            raise
        self.repository.saved(processing_event.aggregates)
        return recordings

    def construct_env(self, name: str, env: EnvType | None = None) -> Environment:
        settings: dict[str, str] = {"IS_SNAPSHOTTING_ENABLED": "y"}
        if env is not None:
            settings.update(env)
        return Environment(name, settings)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's snapshots at every interval an event of the save reaches. An
        aggregate at exactly that version whose events hold no personal data is snapshot
        from the saved object itself (it was just written: the store replays to the same
        state), not rebuilt from the store (a School or Team snapshot rebuilt 100 events,
        about 10 ms). An aggregate with personal fields is always rebuilt from the store:
        after another process's erasure the object in memory may still hold the erased
        plaintext (docs/adr/0013), the store's replay does not."""
        if self.snapshots is None:
            return
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            if aggregate is None:
                continue
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval is None or event.originator_version % interval != 0:
                continue
            if (
                isinstance(aggregate, MiljoAggregate)
                and aggregate.version == event.originator_version
                and not has_personal_fields(type(aggregate))
            ):
                self._snapshot(aggregate)
            else:
                self.take_snapshot(event.originator_id, version=event.originator_version)

    def take_snapshot(
        self,
        aggregate_id: UUID,
        version: int | None = None,
        projector_func: Any = project_events,
    ) -> None:
        """The library's snapshot, then pruning of this stream's older snapshots."""
        if self.snapshots is None:
            raise RuntimeError("snapshots are not enabled for this store")
        aggregate = self.repository.get(
            aggregate_id, version=version, projector_func=projector_func
        )
        self._snapshot(aggregate)

    def _snapshot(self, aggregate: Any) -> None:
        if self.snapshots is None:
            raise RuntimeError("snapshots are not enabled for this store")
        snapshot = type(aggregate).Snapshot.take(aggregate)
        self.snapshots.put([snapshot])
        interval = self.snapshotting_intervals.get(type(aggregate))
        if self.snapshot_pruner is not None and interval:
            self.snapshot_pruner(aggregate.id, aggregate.version, interval * SNAPSHOT_LADDER)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        register_value_types(transcoder, VALUE_TYPES)
