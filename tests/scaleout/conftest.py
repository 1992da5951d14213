"""Fixtures of the scale-out fault tests: a fresh PostgreSQL database, the feed server and the
fake Bot API in processes of their own, and the roles' processes (always reaped)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.migrations import upgrade_to_head
from tests.scaleout import database as pg
from tests.scaleout.cluster import Cluster, fake_token, role_env
from tests.scaleout.database import TestDatabase, run
from tests.scaleout.fake_api import FakeApi
from tests.scaleout.feed_server import FeedServer

FEEDS = 200
POLL_INTERVAL_SECONDS = 4


@pytest.fixture(scope="session")
def scaleout_pg() -> pg.PgServer:
    server = run(pg.find_pg())
    if server.user is None:
        pytest.skip(f"PostgreSQL unreachable: {server.problem}")
    return server


@pytest.fixture(scope="session")
def scaleout_template(scaleout_pg: pg.PgServer) -> Iterator[str]:
    """A migrated database the tests copy: the roles then start on an up-to-date schema."""
    name = pg.db_name("template_")
    run(pg.create_db(scaleout_pg, name))
    try:
        run(upgrade_to_head(scaleout_pg.url(name)))
        yield name
    finally:
        run(pg.drop_db(scaleout_pg, name))


@pytest.fixture
def test_db(scaleout_pg: pg.PgServer, scaleout_template: str) -> Iterator[TestDatabase]:
    name = pg.db_name()
    run(pg.create_db(scaleout_pg, name, template=scaleout_template))
    try:
        yield TestDatabase(scaleout_pg, name)
    finally:
        run(pg.drop_db(scaleout_pg, name))  # WITH (FORCE): a leftover backend cannot block it


@pytest.fixture
def token() -> str:
    return fake_token()


@pytest.fixture
def fake_api(token: str) -> Iterator[FakeApi]:
    api = FakeApi(token=token)
    try:
        yield api
    finally:
        api.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer(feeds=FEEDS)
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def feeds_file(feed_server: FeedServer, tmp_path: Path) -> Path:
    path = tmp_path / "feeds.toml"
    path.write_text(feed_server.catalogue_toml(), encoding="utf-8")
    return path


@pytest.fixture
def cluster(
    test_db: TestDatabase, fake_api: FakeApi, feeds_file: Path, token: str, tmp_path: Path
) -> Iterator[Cluster]:
    env = role_env(
        database_url=test_db.url,
        token=token,
        api_url=fake_api.url,
        feeds_file=feeds_file,
        poll_interval_seconds=POLL_INTERVAL_SECONDS,
    )
    workdir = tmp_path / "roles"
    workdir.mkdir()
    group = Cluster(workdir=workdir, env=env)
    try:
        yield group
    finally:
        group.close()
