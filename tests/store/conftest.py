"""PostgreSQL for the store tests: a server named by ``COMPOUND_TEST_PG_URL`` (default
``postgresql://compound:compound@127.0.0.1:5432/compound_test``), a fresh schema per test.

Without a server the PostgreSQL tests are skipped, saying how to start one; under
``CI=true`` they fail instead (and any other skip of a PostgreSQL test is turned into a
failure), so that CI cannot silently lose them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import pytest

DEFAULT_URL = "postgresql://compound:compound@127.0.0.1:5432/compound_test"
HOW_TO_START = (
    "start one with `.ci/run`'s recipe (Debian: apt-get install postgresql; pg_ctlcluster 15 "
    "main start; then create the role and database compound/compound_test as in .ci/run) "
    "or set COMPOUND_TEST_PG_URL to a database you may create schemas in")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The test server's URL, once checked to answer."""
    url = os.environ.get("COMPOUND_TEST_PG_URL", DEFAULT_URL)
    try:
        import psycopg
        import psycopg_pool  # noqa: F401 - the store needs it too
    except ImportError as exc:
        problem = f"psycopg is not installed ({exc}); pip install 'compound[postgres]'"
    else:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return url
        except psycopg.Error as exc:
            problem = f"PostgreSQL is unreachable at {url.split('@')[-1]}: {exc}".strip()
    if in_ci():
        pytest.fail(f"CI=true and {problem}", pytrace=False)
    pytest.skip(f"{problem}; {HOW_TO_START}")


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh schema, dropped after the test."""
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in pg_server else "?"
    yield f"{pg_server}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.skipped and in_ci() and "postgres" in item.nodeid:
        report.outcome = "failed"
        report.longrepr = f"CI=true: a PostgreSQL test may not be skipped ({report.longrepr})"
