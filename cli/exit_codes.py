"""The exit codes of the ``miljo`` command: a documented, tested contract (docs/cli.md).

Exceptions are mapped to these codes only in ``cli/`` (see :mod:`cli.errors`).
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
"""The command succeeded."""

INTERNAL_ERROR: Final = 1
"""An unexpected error (a bug); run again with ``--debug`` for the traceback."""

USAGE_ERROR: Final = 2
"""Bad usage or invalid input: unknown option, malformed value, invalid roster file."""

RULE_VIOLATION: Final = 3
"""A business rule refused the command (nothing was written)."""

NOT_FOUND: Final = 4
"""A school, student number, vedtak, meeting or entry does not exist."""

CONCURRENCY_CONFLICT: Final = 5
"""The command kept colliding with concurrent writers; try again."""

ACCESS_DENIED: Final = 6
"""The acting role may not perform the command."""

STORE_ERROR: Final = 7
"""The store is missing, corrupt, locked, lacks its keys, or already exists."""

VERIFY_FAILED: Final = 8
"""``audit verify`` found the hash chain or a snapshot broken: the store was changed outside
miljo."""

#: Every code with a one-line meaning, in order (used by docs/cli.md).
MEANINGS: Final[tuple[tuple[int, str, str], ...]] = (
    (OK, "OK", "the command succeeded"),
    (INTERNAL_ERROR, "INTERNAL_ERROR", "unexpected error (a bug); rerun with --debug"),
    (
        USAGE_ERROR,
        "USAGE_ERROR",
        "usage error or invalid input (unknown option, malformed value, bad roster file)",
    ),
    (RULE_VIOLATION, "RULE_VIOLATION", "a business rule refused the command; nothing was written"),
    (NOT_FOUND, "NOT_FOUND", "a school, student number, vedtak, meeting or entry does not exist"),
    (
        CONCURRENCY_CONFLICT,
        "CONCURRENCY_CONFLICT",
        "the command kept colliding with concurrent writers; try again",
    ),
    (ACCESS_DENIED, "ACCESS_DENIED", "the acting role may not do this"),
    (
        STORE_ERROR,
        "STORE_ERROR",
        "store missing, corrupt, locked, keys missing, or already exists (store init)",
    ),
    (
        VERIFY_FAILED,
        "VERIFY_FAILED",
        "audit verify found the hash chain or a snapshot broken (the store was changed "
        "outside miljo)",
    ),
)
