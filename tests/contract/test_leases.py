"""Job leases on SQLite and PostgreSQL: one holder at a time, renewal, takeover of dead holders.

Each `Database` here stands for a process: its own engine and connections on one database.
"""

import asyncio
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.errors import JobLeaseHeldError
from engine.leases import JobLeases
from engine.schema import JobLease
from engine.service import SearchService
from engine.settings import EngineSettings, SearchSettings, StorageSettings
from engine.storage import Database, sqlite_url
from jobs.scheduler import JobStatus, build_scheduler, stop_scheduler
from tests.postgres_server import reset_database

DATABASES = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="postgresql")]


@pytest.fixture(params=DATABASES)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database shared by the test's 'processes'."""
    if request.param == "sqlite":
        yield sqlite_url(tmp_path)
        return
    shared: str = request.getfixturevalue("postgres_url")
    reset_database(shared)
    yield shared
    reset_database(shared)


@pytest.fixture
def process(url: str) -> Iterator[Callable[[], JobLeases]]:
    """process() -> the leases of a new 'process' on the shared database."""
    opened: list[Database] = []

    def make() -> JobLeases:
        opened.append(Database(url))
        return JobLeases(opened[-1])

    yield make
    for db in opened:
        db.dispose()


def test_one_holder_at_a_time(process: Callable[[], JobLeases]) -> None:
    a, b = process(), process()
    assert re.fullmatch(rf"{re.escape(socket.gethostname())}:{os.getpid()}:[0-9a-f]{{8}}", a.holder)
    assert a.holder != b.holder
    lease = a.take("index", 60)
    with pytest.raises(JobLeaseHeldError) as held:
        b.take("index", 60)
    assert held.value.holder == a.holder and held.value.job == "index"
    assert f"({a.holder} holds it until " in str(held.value)
    with pytest.raises(JobLeaseHeldError):
        a.take("index", 60)  # not re-entrant: one run at a time within a process too
    b.take("utility", 60).release()  # other jobs are free
    lease.release()
    with b.take("index", 60):
        found = a.holder_of("index")
        assert found is not None and found[0] == b.holder
    assert a.holder_of("index") is None  # released: the row is gone


def test_racing_takers_exactly_one_wins(process: Callable[[], JobLeases]) -> None:
    racers = [process() for _ in range(6)]
    start, won, lost = threading.Barrier(len(racers)), [], []

    def race(leases: JobLeases) -> None:
        start.wait()
        try:
            won.append(leases.take("annotate", 60))
        except JobLeaseHeldError as exc:
            lost.append(exc.holder)

    threads = [threading.Thread(target=race, args=(r,)) for r in racers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and len(lost) == len(racers) - 1
    assert set(lost) == {won[0].holder}
    won[0].release()


def _plant(leases: JobLeases, holder: str, expires_in_s: float) -> None:
    """A lease row as another process left it."""
    with leases._db.session() as s:
        until = datetime.now(UTC) + timedelta(seconds=expires_in_s)
        s.add(JobLease(name="profiles", holder=holder, expires_at=until))


def test_an_expired_lease_of_a_dead_holder_is_taken_over(process: Callable[[], JobLeases]) -> None:
    mine = process()
    _plant(mine, "gone-host:4242:deadbeef", expires_in_s=-1)
    with mine.take("profiles", 60), mine._db.session() as s:
        assert s.scalars(select(JobLease.holder)).all() == [mine.holder]


def test_a_live_lease_is_not_taken_before_it_expires(process: Callable[[], JobLeases]) -> None:
    mine = process()
    _plant(mine, "other-host:7:cafecafe", expires_in_s=60)
    with pytest.raises(JobLeaseHeldError, match="other-host:7:cafecafe"):
        mine.take("profiles", 60)
    with mine._db.session() as s:  # its time runs out
        row = s.get(JobLease, "profiles")
        assert row is not None
        row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    mine.take("profiles", 60).release()


def test_a_lease_is_renewed_while_its_run_lasts(process: Callable[[], JobLeases]) -> None:
    a, b = process(), process()
    lease = a.take("index", 2.0)
    time.sleep(4.5)  # more than twice its time: only renewal (every third of it) keeps it
    with pytest.raises(JobLeaseHeldError):
        b.take("index", 60)
    assert not lease.lost
    lease.release()
    b.take("index", 60).release()


def test_a_lease_lost_to_another_process_is_noticed_and_left_alone(
    process: Callable[[], JobLeases],
) -> None:
    a, b = process(), process()
    lease = a.take("index", 0.6)
    with a._db.session() as s:  # as if `a` stalled past its expiry and `b` took over
        row = s.get(JobLease, "index")
        assert row is not None
        row.holder = b.holder
        # `b` took it for a time of its own: it must outlast this test on a busy machine.
        row.expires_at = datetime.now(UTC) + timedelta(seconds=60)
    deadline = time.monotonic() + 10  # the renewal thread may be slow to run on a busy machine
    while not lease.lost and time.monotonic() < deadline:
        time.sleep(0.05)
    assert lease.lost
    lease.release()
    found = a.holder_of("index")
    assert found is not None and found[0] == b.holder, "a lost lease is not released"


def _service(data_dir: Path, url: str) -> SearchService:
    """A library 'process' of its own (own data dir) on the shared database."""
    storage = StorageSettings(data_dir=data_dir, database_url=url)
    return SearchService.open(EngineSettings(storage=storage, search=SearchSettings(dense=False)))


async def test_two_schedulers_on_one_database_never_run_a_job_at_once(
    url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Two processes' real scheduler paths (APScheduler, JobStatus, leases) race for one job."""
    active = {"now": 0, "max": 0, "runs": 0}

    async def slow(_: SearchService) -> str:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(0.3)
        active["now"] -= 1
        active["runs"] += 1
        return "done"

    caplog.set_level(logging.INFO, logger="jobs.scheduler")
    services = [_service(tmp_path / f"p{i}", url) for i in (1, 2)]
    statuses = [JobStatus(lease_s=30) for _ in services]
    schedulers = [
        build_scheduler(svc, status, {"index": 0.1}, {"index": slow})
        for svc, status in zip(services, statuses, strict=True)
    ]
    try:
        for scheduler in schedulers:
            scheduler.start()
        deadline = time.monotonic() + 30
        while active["runs"] < 4 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        for scheduler in schedulers:
            await stop_scheduler(scheduler)
        for status in statuses:
            await status.drain(5)
        for svc in services:
            svc.close()
    assert active["runs"] >= 4 and active["max"] == 1
    held = [
        r.getMessage() for r in caplog.records if "running in another process" in r.getMessage()
    ]
    assert held, "each process found the other one running the job at some point"
    holders = {svc.leases.holder for svc in services}
    assert {re.search(r"\((\S+) holds it", m).group(1) for m in held} <= holders  # type: ignore[union-attr]
