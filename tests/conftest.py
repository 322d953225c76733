"""Shared fixtures.

Store fixtures: `store_target` runs a test once on an SQLite file and once on a
fresh PostgreSQL database. The PostgreSQL server comes from
$SVCPLAN_TEST_POSTGRESQL_URL (a URL of its maintenance database). When it
cannot be reached, the PostgreSQL tests fail if $CI is set and are skipped
otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from svcplan.store import Store, open_store, redact

POSTGRESQL_URL_VARIABLE = "SVCPLAN_TEST_POSTGRESQL_URL"
DEFAULT_POSTGRESQL_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def _postgresql_unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def postgresql_server() -> str:
    """Return the URL of the test server's maintenance database, after checking that it accepts connections."""
    url = os.environ.get(POSTGRESQL_URL_VARIABLE) or DEFAULT_POSTGRESQL_URL
    try:
        import psycopg
    except ImportError as error:
        _postgresql_unavailable(f"psycopg is not installed ({error}); install svcplan[test]")
    try:
        with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        _postgresql_unavailable(f"the PostgreSQL server {redact(url)} cannot be reached: "
                                f"{' '.join(str(error).split())}; start it or set {POSTGRESQL_URL_VARIABLE}")
    return url


def database_url(server_url: str, database: str) -> str:
    """Return `server_url` with its database name replaced by `database`."""
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """Create a database with a random name for one test, yield its URL, and drop it afterwards."""
    import psycopg
    from psycopg import sql

    name = f"svcplan_test_{secrets.token_hex(6)}"
    with psycopg.connect(postgresql_server, autocommit=True) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield database_url(postgresql_server, name)
    finally:
        with psycopg.connect(postgresql_server, autocommit=True) as connection:
            # FORCE (PostgreSQL 13 and later) ends connections a failed test left open.
            connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def store_target(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return the target of a new, empty store: an SQLite file path or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "svcplan.db")
    return str(request.getfixturevalue("postgresql_url"))


@pytest.fixture
def store(store_target: str) -> Iterator[Store]:
    """Yield a store opened on `store_target`, closing it afterwards."""
    with open_store(store_target) as opened:
        yield opened
