"""Test databases, each schema built by the committed migrations (never `create_all`).

Migrating is the slow part of a database test, so each test session (each pytest-xdist worker)
migrates once: into a template database on TEST_DATABASE_URL's server, and into a SQLite file.

- A PostgreSQL test (`postgres_url`) gets the worker's copy of the template, emptied before the
  test: connections left over from earlier tests are ended, every table but `alembic_version` is
  emptied and its sequences restarted. A test that changed the schema (a trigger, a dropped
  index, a downgrade) leaves a different fingerprint, and the copy is then made again from the
  template. Emptying takes milliseconds where a new database takes most of a second. The copy
  keeps its name, so a server that outlives one test (tests/browser.py) stays pointed at it.
- A SQLite test (`sqlite_url`) gets a copy of the migrated file in its own `tmp_path`.
- Tests of the migrations themselves, and `flask db upgrade` in production, take a new, empty
  database (`empty_postgres_url`, `PostgresServer.database`).

Without a reachable server, PostgreSQL tests are skipped with the reason shown, unless
MENTORLY_REQUIRE_POSTGRES=1 makes that a failure.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from contextlib import contextmanager
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Iterator

import psycopg
import pytest
from flask_migrate import upgrade
from sqlalchemy.engine import URL, make_url

from mentorly import MIGRATIONS, create_app
from mentorly.extensions import db
from tests.conftest import unavailable

DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

# Everything a test could change in a schema, one line per object, as the catalogs describe it.
SCHEMA_FINGERPRINT = """
SELECT md5(string_agg(line, E'\\n' ORDER BY line)) FROM (
    SELECT format('relation %s %s', relkind, relname) FROM pg_class
        WHERE relnamespace = 'public'::regnamespace
    UNION ALL
    SELECT format('column %s.%s %s %s %s', c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
                  a.attnotnull, pg_get_expr(d.adbin, d.adrelid))
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = 'public'::regnamespace AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
    UNION ALL
    SELECT format('constraint %s %s', conname, pg_get_constraintdef(oid)) FROM pg_constraint
        WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'routine ' || oid::regprocedure FROM pg_proc WHERE pronamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'type ' || typname FROM pg_type WHERE typnamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'schema ' || nspname FROM pg_namespace
) AS schema(line)
"""
# One row per other client still connected (being ended or not).
END_OTHER_CONNECTIONS = """
SELECT pg_terminate_backend(pid) FROM pg_stat_activity
WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
"""
DATA_TABLES = """
SELECT quote_ident(relname) FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname <> 'alembic_version'
"""
FOREIGN_KEYS = """
SELECT conrelid::regclass::text, confrelid::regclass::text FROM pg_constraint
WHERE contype = 'f' AND connamespace = 'public'::regnamespace
"""
SEQUENCES = "SELECT oid::regclass::text FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'S'"


def migrate(database_url: str) -> None:
    """Build the schema as `flask db upgrade` does: the committed migrations, up to the head."""
    app = create_app({"MENTORLY_ENV": "testing", "TESTING": True, "SECRET_KEY": "migrations",
                      "SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade(directory=str(MIGRATIONS))
        db.session.remove()
        db.engine.dispose()


class PostgresServer:
    """The test server: makes and drops uniquely named databases on it."""

    def __init__(self, url: URL) -> None:
        self.url = url

    def conninfo(self, database: str | None = None) -> str:
        """What psycopg connects with (to the server's own database unless `database`)."""
        url = self.url.set(drivername="postgresql")
        if database:
            url = url.set(database=database)
        return url.render_as_string(hide_password=False)

    def url_of(self, database: str) -> str:
        """What the app connects with."""
        return self.url.set(drivername="postgresql+psycopg", database=database).render_as_string(hide_password=False)

    def create(self, template: str | None = None, name: str | None = None) -> str:
        """A database (a new name unless `name`), empty or a copy of `template`; its name."""
        name = name or f"mentorly_test_{uuid.uuid4().hex[:12]}"
        copy = f' TEMPLATE "{template}"' if template else ""
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{copy}')
        return name

    def drop(self, name: str) -> None:
        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextmanager
    def database(self) -> Iterator[str]:
        """A new, empty database for the block; its URL."""
        name = self.create()
        try:
            yield self.url_of(name)
        finally:
            self.drop(name)


class ReusedDatabase:
    """One copy of the migrated template, emptied for each test that takes it."""

    def __init__(self, server: PostgresServer, template: str) -> None:
        self.server = server
        self.template = template
        self.name = server.create(template)
        self.conn = self.connect()
        self.fingerprint = self.conn.execute(SCHEMA_FINGERPRINT).fetchone()[0]
        # Emptied by DELETE, referencing tables first: on tables this small it is several times
        # faster than TRUNCATE, which gives every table new files.
        references = TopologicalSorter({table: set() for (table,) in self.conn.execute(DATA_TABLES)})
        for referencing, referenced in self.conn.execute(FOREIGN_KEYS):
            if referencing != referenced:
                references.add(referenced, referencing)
        self.tables = list(references.static_order())
        self.sequences = [name for (name,) in self.conn.execute(SEQUENCES)]

    @property
    def url(self) -> str:
        return self.server.url_of(self.name)

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.server.conninfo(self.name), autocommit=True)

    def empty(self) -> None:
        """As the template left it: no rows, sequences at 1, no connection of an earlier test."""
        # Until they are gone: a connection being ended may still commit (a statement whose
        # client vanished), and that row must not outlive the emptying.
        try:
            self.conn.execute("SELECT 1")
        except psycopg.OperationalError:  # ended by a test that ends every connection, as a restart would
            self.conn = self.connect()
        deadline = time.monotonic() + 30
        while self.conn.execute(END_OTHER_CONNECTIONS).fetchall():
            assert time.monotonic() < deadline, f"connections to {self.name} outlived the test that made them"
            time.sleep(0.01)
        if self.conn.execute(SCHEMA_FINGERPRINT).fetchone()[0] != self.fingerprint:
            self.conn.close()
            self.server.drop(self.name)
            self.server.create(self.template, name=self.name)
            self.conn = self.connect()
            return
        with self.conn.transaction():
            for table in self.tables:
                self.conn.execute(f"DELETE FROM {table}")
            for sequence in self.sequences:
                self.conn.execute(f"ALTER SEQUENCE {sequence} RESTART")

    def drop(self) -> None:
        self.conn.close()
        self.server.drop(self.name)


@pytest.fixture(scope="session")
def postgres_server() -> PostgresServer:
    """The test server, or a skip (a failure when PostgreSQL is required)."""
    server = PostgresServer(make_url(os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)))
    try:
        with psycopg.connect(server.conninfo(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at {server.url.render_as_string()}: {' '.join(str(exc).split())}",
                    "MENTORLY_REQUIRE_POSTGRES")
    return server


@pytest.fixture(scope="session")
def postgres_template(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of this session's migrated database, copied and never used directly."""
    name = postgres_server.create()
    try:
        migrate(postgres_server.url_of(name))
        yield name
    finally:
        postgres_server.drop(name)


@pytest.fixture(scope="session")
def reused_postgres_database(postgres_server, postgres_template) -> Iterator[ReusedDatabase]:
    database = ReusedDatabase(postgres_server, postgres_template)
    yield database
    database.drop()


@pytest.fixture
def postgres_url(reused_postgres_database: ReusedDatabase) -> str:
    """A migrated PostgreSQL database of this test's own, with no rows."""
    reused_postgres_database.empty()
    return reused_postgres_database.url


@pytest.fixture
def empty_postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A new PostgreSQL database without any schema, for tests of the migrations themselves."""
    with postgres_server.database() as url:
        yield url


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "mentorly.db"
    migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database of this test's own (a copy of the session's migrated file)."""
    path = tmp_path / "mentorly.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


DATABASES = {"sqlite": "sqlite_url", "postgresql": "postgres_url"}  # parameter -> fixture


@pytest.fixture
def database_url(request) -> str:
    """This test's migrated database: SQLite or PostgreSQL, as `pytest_generate_tests` chose."""
    return request.getfixturevalue(DATABASES[request.param])


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests on a `database_url` run on both databases; those marked `postgres` on PostgreSQL only
    (the product's database: pages, htmx and HTTP). A test that parametrizes `database_url` itself
    keeps its own choice."""
    if "database_url" not in metafunc.fixturenames or _parametrizes(metafunc, "database_url"):
        return
    chosen = ["postgresql"] if metafunc.definition.get_closest_marker("postgres") else list(DATABASES)
    metafunc.parametrize("database_url", chosen, indirect=True)


def _parametrizes(metafunc: pytest.Metafunc, name: str) -> bool:
    for marker in metafunc.definition.iter_markers("parametrize"):
        names = marker.args[0]
        if isinstance(names, str):
            names = [part.strip() for part in names.split(",")]
        if name in names:
            return True
    return False
