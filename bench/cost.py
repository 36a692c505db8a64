"""What the protections cost inside a command (issue 5: "encryption, chain and access log
together cost within the goals of the benchmark issue").

:func:`protection_timers` wraps, while active, the functions that make up the protections
(ADRs 0009, 0010, 0013, 0015; ``adapters/protection.py``, ``adapters/keyring.py``,
``adapters/chain.py``, ``adapters/postgres.py``, ``domain/facade.py``) with timers, and
yields a :class:`ProtectionTimes` that sums their seconds per component:

* ``cipher``: the payload cipher of every stored event and snapshot
  (``MiljoCipher.encrypt`` / ``.decrypt``);
* ``keys``: the per-student keys: sealing and opening personal fields (``MiljoCipher.seal``
  / ``.unseal``), every ``Keyring`` method a facade call reaches (``hold``, ``release``,
  ``recheck``, ``current``, ``get``, ``erasures``), its storage's queries (``live``,
  ``changed``, ``unchanged_since``, ``fetch``, ``create``) and the aggregate cache's erasure check
  (``MiljoRepository._forget_if_erased``);
* ``chain``: on SQLite the chained recorder's ``_insert_events`` minus the library's own
  ``SQLiteApplicationRecorder._insert_events`` it calls (so: the link computations, the
  previous link's lookup and the chain rows' INSERTs); on PostgreSQL ``_append_links``, the
  Python part (link computations and the statement's parameters): the chain's SQL rides in
  the events' own pipelined round trips (ADR 0011 addendum) and cannot be told apart;
* ``access``: ``Miljo._authorize`` (scope, role matrix, need-to-know), minus the loads of the
  student or meeting it checks the school of (``Miljo._student``, ``Miljo._meeting``): the
  command loads the same aggregate itself, so without access control that load would still
  be made (it moves, it is not added). The need-to-know relation's own loads are counted;
* ``access log``: ``Miljo._log_read``, the entry a read of a case appends (commands do not
  write it; with everything it does, its own encryption and chain link included).

Only the outermost protected frame is timed (a nested one, such as the keyring inside
``unseal``, is part of it), so nothing is counted twice. An *excluded* frame inside a
protected one (the library's insert inside the chain's) pauses it; protected frames inside
an excluded one count again. Only calls in the thread that entered the context are timed.

The timers cost a little themselves (two ``perf_counter`` calls per outermost frame, a
function call per nested one), so the figures are a slight over-estimate, and wrapped
commands are slower: the benchmark's official command timings are never taken with them on.
"""

from __future__ import annotations

import functools
import threading
import time
import types
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from typing import Any, Final

import attrs
from eventsourcing.sqlite import SQLiteApplicationRecorder

from adapters.chain import ChainedSQLiteApplicationRecorder
from adapters.keyring import Keyring, PostgresKeyringStorage, SQLiteKeyringStorage
from adapters.postgres import ChainedPostgresApplicationRecorder
from adapters.protection import MiljoCipher
from bench.common import patched
from domain.application import MiljoRepository
from domain.facade import Miljo

CIPHER: Final = "cipher"
KEYS: Final = "keys"
CHAIN: Final = "chain"
ACCESS: Final = "access"
ACCESS_LOG: Final = "access log"
#: The components, in the order the notes name them.
COMPONENTS: Final = (CIPHER, KEYS, CHAIN, ACCESS, ACCESS_LOG)

#: A target: (class, attribute, component; None: excluded from the protected frame around it).
Target = tuple[type, str, str | None]

_KEYRING_METHODS: Final = ("hold", "recheck", "release", "current", "get", "erasures")
_STORAGE_METHODS: Final = ("live", "changed", "unchanged_since", "fetch", "create")

TARGETS: Final[tuple[Target, ...]] = (
    (MiljoCipher, "encrypt", CIPHER),
    (MiljoCipher, "decrypt", CIPHER),
    (MiljoCipher, "seal", KEYS),
    (MiljoCipher, "unseal", KEYS),
    *((Keyring, name, KEYS) for name in _KEYRING_METHODS),
    *((SQLiteKeyringStorage, name, KEYS) for name in _STORAGE_METHODS),
    *((PostgresKeyringStorage, name, KEYS) for name in _STORAGE_METHODS),
    (MiljoRepository, "_forget_if_erased", KEYS),
    (ChainedSQLiteApplicationRecorder, "_insert_events", CHAIN),
    (SQLiteApplicationRecorder, "_insert_events", None),
    (ChainedPostgresApplicationRecorder, "_append_links", CHAIN),
    (Miljo, "_authorize", ACCESS),
    (Miljo, "_student", None),
    (Miljo, "_meeting", None),
    (Miljo, "_log_read", ACCESS_LOG),
)


@attrs.define
class _Frame:
    component: str | None  # None: an excluded frame
    start: float
    excluded: float = 0.0  # seconds of excluded frames directly inside this one


class ProtectionTimes:
    """Seconds spent in each protection component while the timers were on."""

    def __init__(
        self, components: tuple[str, ...] = COMPONENTS, clock: Callable[[], float] | None = None
    ) -> None:
        self.seconds: dict[str, float] = dict.fromkeys(components, 0.0)
        self.clock = clock or time.perf_counter
        self.thread = threading.get_ident()
        self._stack: list[_Frame] = []
        #: How many excluded frames took their time out of a protected one.
        self.paused = 0

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def snapshot(self) -> dict[str, float]:
        """The seconds per component so far (a copy, for differences between two moments)."""
        return dict(self.seconds)

    def since(self, earlier: Mapping[str, float]) -> dict[str, float]:
        """Seconds per component since the :meth:`snapshot` ``earlier``."""
        return {name: spent - earlier.get(name, 0.0) for name, spent in self.seconds.items()}

    def protected(self, component: str, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function`` timed as ``component`` when it is the outermost protected frame."""
        stack, clock = self._stack, self.clock

        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self.thread or (stack and stack[-1].component):
                return function(*args, **kwargs)
            frame = _Frame(component, clock())
            stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                stack.pop()
                spent = clock() - frame.start - frame.excluded
                self.seconds[component] = self.seconds.get(component, 0.0) + spent

        return timed

    def excluded(self, function: Callable[..., Any]) -> Callable[..., Any]:
        """``function``'s time taken out of the protected frame it runs in (if any)."""
        stack, clock = self._stack, self.clock

        @functools.wraps(function)
        def paused(*args: Any, **kwargs: Any) -> Any:
            if threading.get_ident() != self.thread or not stack or not stack[-1].component:
                return function(*args, **kwargs)
            parent = stack[-1]
            self.paused += 1
            frame = _Frame(None, clock())
            stack.append(frame)
            try:
                return function(*args, **kwargs)
            finally:
                stack.pop()
                parent.excluded += clock() - frame.start

        return paused


def _function(cls: type, name: str) -> types.FunctionType:
    """The plain function ``cls.name`` resolves to (own or inherited)."""
    for base in cls.__mro__:
        if name in vars(base):
            found = vars(base)[name]
            if not isinstance(found, types.FunctionType):
                raise TypeError(f"{cls.__name__}.{name} is not a plain function")
            return found
    raise AttributeError(f"{cls.__name__} has no {name}")


_active = threading.Lock()


def timers_on() -> bool:
    """Whether protection timers are on now (official timings must never run with them)."""
    return _active.locked()


def require_timers_off(what: str) -> None:
    if timers_on():
        raise RuntimeError(f"{what} must not be timed with the protection timers on")


@contextmanager
def protection_timers(
    targets: tuple[Target, ...] = TARGETS, clock: Callable[[], float] | None = None
) -> Iterator[ProtectionTimes]:
    """Wrap every target with a timer while the block runs; restore the original class
    attributes on exit, also on error. Not re-entrant (one set of timers at a time).
    ``clock``: seconds now (``time.perf_counter``; a test gives its own)."""
    if not _active.acquire(blocking=False):
        raise RuntimeError("protection timers are already on")
    times = ProtectionTimes(clock=clock)
    try:
        with ExitStack() as stack:  # restored in reverse order, also after an error
            for cls, name, component in targets:
                function = _function(cls, name)
                wrapper = (
                    times.excluded(function)
                    if component is None
                    else times.protected(component, function)
                )
                stack.enter_context(patched(cls, name, wrapper))
            yield times
    finally:
        _active.release()


@attrs.frozen
class ProtectionCost:
    """What the protections took in ``calls`` calls of one kind (commands or reads)."""

    calls: int
    call_s: float  # seconds of the wrapped calls, protections included
    seconds: Mapping[str, float]  # per component, over all the calls
    reference_s: float  # seconds of one call of what it is compared with (a raw save)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())

    def per_call_us(self, component: str | None = None) -> float:
        spent = self.total_s if component is None else self.seconds.get(component, 0.0)
        return spent / self.calls * 1e6 if self.calls else 0.0

    @property
    def call_us(self) -> float:
        return self.call_s / self.calls * 1e6 if self.calls else 0.0

    @property
    def share(self) -> float:
        """Protection's time per call, as a multiple of the reference's time."""
        return self.total_s / self.calls / self.reference_s if self.calls else 0.0

    def components_note(self) -> str:
        """``cipher 12 µs, keys 20 µs, chain 18 µs, access 9 µs = 59 µs`` (components that
        the calls never reached are left out)."""
        parts = [
            f"{name} {self.per_call_us(name):,.0f} µs"
            for name, spent in self.seconds.items()
            if spent > 0
        ]
        return f"{', '.join(parts) or 'none'} = {self.per_call_us():,.0f} µs"
