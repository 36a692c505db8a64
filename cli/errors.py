"""Map exceptions to exit codes and one-line messages. The only place that does so."""

from __future__ import annotations

import attrs
import click
from eventsourcing.persistence import MapperDeserialisationError, PersistenceError

from adapters.bootstrap import StoreError
from adapters.protection import ProtectionError
from cli import exit_codes
from domain.errors import (
    AccessDenied,
    ConcurrencyConflict,
    InvalidValue,
    NotFound,
    RuleViolation,
)

PREFIX = "miljo: error: "


@attrs.frozen
class Failure:
    """What the user is told: an exit code and a one-line message."""

    exit_code: int
    message: str

    def line(self) -> str:
        """The single stderr line: ``miljo: error: <message>``."""
        return PREFIX + " ".join(self.message.split())


def classify(error: BaseException) -> Failure:
    """The exit code and message for ``error`` (any exception the CLI lets escape)."""
    if isinstance(error, InvalidValue):
        return Failure(exit_codes.USAGE_ERROR, str(error))
    if isinstance(error, NotFound):
        # Before RuleViolation: an unknown entry (UnknownEntry) is both, and is "not found".
        return Failure(exit_codes.NOT_FOUND, str(error))
    if isinstance(error, RuleViolation):
        return Failure(exit_codes.RULE_VIOLATION, f"refused: {error}")
    if isinstance(error, ConcurrencyConflict):
        return Failure(exit_codes.CONCURRENCY_CONFLICT, str(error))
    if isinstance(error, AccessDenied):
        return Failure(exit_codes.ACCESS_DENIED, f"access denied: {error}")
    if isinstance(error, StoreError):
        return Failure(exit_codes.STORE_ERROR, str(error))
    if isinstance(error, ProtectionError):
        # A key or the keyring is missing, does not fit, or cannot be written (locked, disk
        # full): the message names the file, never the data.
        return Failure(exit_codes.STORE_ERROR, f"store problem: {error}")
    if isinstance(error, MapperDeserialisationError):
        return Failure(exit_codes.STORE_ERROR, _unreadable(error))
    if isinstance(error, PersistenceError):
        # The library's PEP 249 errors (locked database, disk I/O error, ...).
        return Failure(exit_codes.STORE_ERROR, f"store problem: {type(error).__name__}: {error}")
    if isinstance(error, click.UsageError):
        message = error.format_message()
        if error.ctx is not None:
            message += f" (see '{error.ctx.command_path} --help')"
        return Failure(exit_codes.USAGE_ERROR, message)
    if isinstance(error, click.ClickException):
        return Failure(error.exit_code, error.format_message())
    if isinstance(error, click.Abort | KeyboardInterrupt | EOFError):
        return Failure(exit_codes.INTERNAL_ERROR, "aborted")
    return Failure(
        exit_codes.INTERNAL_ERROR,
        f"internal error ({type(error).__name__}); run with --debug for the traceback",
    )


def _unreadable(error: MapperDeserialisationError) -> str:
    """A stored event that cannot be decoded: its payload or a sealed field does not
    authenticate. The library's message names the event and the cipher's complaint; neither it
    nor any payload is shown, only the likely cause."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, ProtectionError):
        # The keyring could not be read, or a data key did not open: say which.
        return f"store problem: a stored event cannot be read: {cause}"
    return (
        "store problem: a stored event cannot be read: its data does not authenticate; "
        "the key files may not belong to this store (wrong payload or master key), "
        "or the stored data is damaged"
    )
