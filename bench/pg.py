"""The PostgreSQL server of a benchmark run: where it is, and throw-away schemas in it.

The server comes from ``--postgres URL``, else ``MILJO_BENCH_POSTGRES_URL``, else
``MILJO_TEST_POSTGRES_URL`` (``make bench`` starts a private cluster with
``scripts/pg-cluster`` and sets the latter when neither is given). Every schema a run makes
is named ``bench_<pid>_<n>_<what>`` and dropped when the run ends, also after a failure; the
URL's own ``?schema=`` is never touched. The password never appears in a message.
"""

from __future__ import annotations

import contextlib
import os
from typing import Final
from urllib.parse import quote

import attrs
import psycopg
from psycopg import sql

from adapters import postgres
from adapters.bootstrap import PostgresTarget, StoreError, parse_postgres_url

ENV_URLS: Final = ("MILJO_BENCH_POSTGRES_URL", "MILJO_TEST_POSTGRES_URL")


def server_url(explicit: str | None) -> str | None:
    """The server to measure on: the option, else the first environment variable set."""
    if explicit:
        return explicit
    for name in ENV_URLS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return None


def store_url(target: PostgresTarget) -> str:
    """The store URL of ``target`` *with* its password, for a child process's environment
    (``MILJO_STORE``), never for argv or messages."""
    url = target.url()
    if target.password is None:
        return url
    user, _, rest = url.removeprefix("postgresql://").partition("@")
    return f"postgresql://{user}:{quote(target.password, safe='')}@{rest}"


class Server:
    """A reachable PostgreSQL server and the schemas this run made in it."""

    def __init__(self, url: str) -> None:
        base = parse_postgres_url(url)
        self.schemas: list[str] = []
        with postgres.connect(base) as conn:  # StoreError if unreachable
            # the password as libpq found it (URL, PGPASSWORD or a password file)
            self.base = attrs.evolve(base, password=conn.info.password or None)
            row = conn.execute("SHOW server_version").fetchone()
            self.version = str(row["server_version"]) if row else "?"
            fsync = conn.execute("SHOW fsync").fetchone()
            self.fsync = str(fsync["fsync"]) if fsync else "?"

    def describe(self) -> str:
        """Server version, address and fsync setting (no password)."""
        return (
            f"PostgreSQL {self.version} at {self.base.host}:{self.base.port}/"
            f"{self.base.dbname}, fsync={self.fsync}"
        )

    def new_schema(self, what: str) -> PostgresTarget:
        """A new, empty schema; dropped by :meth:`drop_all`."""
        name = f"bench_{os.getpid()}_{len(self.schemas)}_{what}"[:48]
        target = attrs.evolve(self.base, schema=name)
        with postgres.connect(target) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
        self.schemas.append(name)
        return target

    def drop(self, target: PostgresTarget) -> None:
        with postgres.connect(self.base) as conn:
            conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(target.schema))
            )
        if target.schema in self.schemas:
            self.schemas.remove(target.schema)

    def drop_all(self) -> None:
        """Drop every schema this run made (best effort: a server gone away is no error)."""
        for name in list(self.schemas):
            with contextlib.suppress(StoreError):
                self.drop(attrs.evolve(self.base, schema=name))


def connect_server(url: str | None) -> tuple[Server | None, str]:
    """The server, or None and why not (a one-line reason without the password)."""
    if url is None:
        return None, "no server URL (--postgres, MILJO_BENCH_POSTGRES_URL, MILJO_TEST_POSTGRES_URL)"
    try:
        return Server(url), ""
    except StoreError as error:
        return None, str(error)
    except psycopg.Error as error:
        return None, postgres.describe_error(error, parse_postgres_url(url))
