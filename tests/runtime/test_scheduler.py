"""jobs.scheduler on a real AsyncIOScheduler: jobs run on short intervals and are recorded."""

import asyncio
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.leases import JobLeases
from engine.service import SearchService
from jobs.scheduler import JobStatus, build_scheduler, span, stop_scheduler
from jobs.tasks import JOBS
from tests.conftest import internals, lexical_library

FAST = 0.1  # seconds between runs in these tests


@pytest.fixture
def svc(tmp_path: Path) -> Iterator[SearchService]:
    """A real library without dense recall (no model load): a cat, a dog, an unlabelled one."""
    with lexical_library(tmp_path, ["🐱", "🐶", ""], step=60) as service:
        yield service


async def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll `condition` until it holds; fail after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"condition not met within {timeout}s")
        await asyncio.sleep(0.02)


def _utility_rows(svc: SearchService) -> list[tuple[int, int, int]]:
    return [(u.clicks, u.unique_users, u.versatility) for u in svc.crowd.utility().values()]


async def test_utility_job_runs_on_its_interval_and_its_effect_is_visible(
    svc: SearchService,
) -> None:
    sticker = svc.library.stickers()[0].id
    for user in ("a", "b", "c"):
        svc.users.record(user, sticker, "chosen", "cat")
    status = JobStatus()
    scheduler = build_scheduler(svc, status, {"utility": 0.2})
    assert _utility_rows(svc) == []
    scheduler.start()
    try:
        await until(lambda: status.records["utility"].runs >= 2)
    finally:
        await stop_scheduler(scheduler)
    assert _utility_rows(svc) == [(3, 3, 1)]
    assert list(status.records) == ["utility"]  # every other job has interval 0: off
    (line,) = status.status_lines()
    assert line.startswith("utility every 0.2s: last run ")
    assert "ok: 1 stickers with utility" in line


async def test_a_failing_job_is_recorded_and_the_others_keep_running(
    svc: SearchService, caplog: pytest.LogCaptureFixture
) -> None:
    calls = {"profiles": 0}

    async def boom(_: SearchService) -> str:
        raise RuntimeError("database on fire")

    async def ok(_: SearchService) -> str:
        calls["profiles"] += 1
        return f"run {calls['profiles']}"

    status = JobStatus()
    jobs = {"utility": boom, "profiles": ok}
    scheduler = build_scheduler(svc, status, {"utility": FAST, "profiles": FAST}, jobs)
    scheduler.start()
    try:
        await until(lambda: status.records["utility"].failures >= 2 and calls["profiles"] >= 3)
        assert scheduler.running
    finally:
        await stop_scheduler(scheduler)
    failed, fine = status.records["utility"], status.records["profiles"]
    assert failed.last_error == "RuntimeError: database on fire"
    assert not failed.last_ok and failed.runs == failed.failures
    assert fine.failures == 0 and fine.last_ok
    utility_line = next(line for line in status.status_lines() if line.startswith("utility"))
    assert "FAILED: RuntimeError: database on fire" in utility_line
    assert "Traceback" not in utility_line
    # The traceback goes to the log only.
    logged = [r for r in caplog.records if r.getMessage().startswith("job utility failed")]
    assert logged and logged[0].exc_info is not None


async def test_a_slow_job_never_overlaps_itself(svc: SearchService) -> None:
    active = {"now": 0, "max": 0, "runs": 0}

    async def slow(_: SearchService) -> str:
        active["now"] += 1
        active["max"] = max(active["max"], active["now"])
        await asyncio.sleep(4 * FAST)
        active["now"] -= 1
        active["runs"] += 1
        return "slow"

    status = JobStatus()
    scheduler = build_scheduler(svc, status, {"index": FAST}, {"index": slow})
    scheduler.start()
    try:
        await until(lambda: active["runs"] >= 2)
    finally:
        await stop_scheduler(scheduler)
    assert active["max"] == 1
    assert status.records["index"].skipped >= 1  # due while running: skipped, not queued
    assert "skipped" in status.status_lines()[0]


async def test_shutdown_lets_a_running_job_finish_and_drain_waits_for_it(
    svc: SearchService, caplog: pytest.LogCaptureFixture
) -> None:
    release = asyncio.Event()
    finished: list[str] = []

    async def job(_: SearchService) -> str:
        await release.wait()
        finished.append("done")
        return "finished after shutdown"

    status = JobStatus()
    scheduler = build_scheduler(svc, status, {"annotate": 60.0}, {"annotate": job})
    scheduler.start()
    await until(lambda: status.running() == ["annotate"])
    await stop_scheduler(scheduler)
    assert not scheduler.running
    assert await status.drain(0.05) == ["annotate"]  # still waiting: not cancelled
    release.set()
    assert await status.drain(5.0) == []
    assert finished == ["done"]
    assert status.records["annotate"].last_outcome == "finished after shutdown"
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # a quiet stop


async def test_first_run_waits_for_the_delay(svc: SearchService) -> None:
    runs: list[float] = []

    async def job(_: SearchService) -> str:
        runs.append(asyncio.get_running_loop().time())
        return "ran"

    status = JobStatus()
    scheduler = build_scheduler(
        svc, status, {"profiles": FAST}, {"profiles": job}, first_run_delay_s=0.5
    )
    started = asyncio.get_running_loop().time()
    scheduler.start()
    try:
        await until(lambda: len(runs) >= 1)
    finally:
        await stop_scheduler(scheduler)
    assert runs[0] - started >= 0.4


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


async def test_status_lines_read_well(svc: SearchService) -> None:
    clock = Clock()
    status = JobStatus(clock=clock)
    status.register("utility", 900)
    status.register("annotate", 300)

    async def utility(_: SearchService) -> str:
        clock.advance(2)
        return "3 stickers with utility"

    await status.run("utility", utility, svc)
    clock.advance(5)
    assert status.status_lines() == [
        "utility every 15m: last run 5s ago, took 2s, ok: 3 stickers with utility "
        "(runs 1, failed 0)",
        "annotate every 5m: not run yet",
    ]


async def test_a_run_another_process_holds_the_lease_of_is_skipped_and_said(
    svc: SearchService,
) -> None:
    clock = Clock()
    status = JobStatus(clock=clock)
    status.register("utility", 900)
    ran: list[str] = []

    async def utility(_: SearchService) -> str:
        ran.append("here")
        return "3 stickers with utility"

    # Another process on the same database (its own holder name) runs the job now.
    worker = JobLeases(internals(svc).db, holder="worker-2:99:0badf00d")
    held = worker.take("utility", 60)
    await status.run("utility", utility, svc)
    assert ran == [] and status.records["utility"].skipped == 1
    assert status.status_lines() == [
        "utility every 15m: not run here yet (skipped 1: held by worker-2:99:0badf00d)"
    ]
    held.release()
    await status.run("utility", utility, svc)
    assert ran == ["here"]
    assert status.status_lines() == [
        "utility every 15m: last run 0s ago, took 0s, ok: 3 stickers with utility "
        "(runs 1, failed 0, skipped 1: held by worker-2:99:0badf00d)"
    ]
    assert worker.holder_of("utility") is None, "the run released its lease"


async def test_status_error_text_is_short_and_redacted(svc: SearchService) -> None:
    status = JobStatus(redact=lambda text: text.replace("s3cret-token", "[REDACTED]"))

    async def fails(_: SearchService) -> str:
        raise ValueError("GET /bots3cret-token/getMe " + "x" * 1000)

    status.register("index", 600)
    await status.run("index", fails, svc)
    error = status.records["index"].last_error
    assert error is not None and error.startswith("ValueError: GET /bot[REDACTED]/getMe xxx")
    assert "s3cret-token" not in status.status_lines()[0]
    assert len(error) <= 300


def test_no_jobs_is_said_plainly() -> None:
    assert JobStatus().status_lines() == ["background jobs: none scheduled in this process"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0.2, "0.2s"), (45, "45s"), (900, "15m"), (5400, "1.5h"), (86400, "1d")],
)
def test_span(seconds: float, text: str) -> None:
    assert span(seconds) == text


def test_every_registered_job_has_a_default_interval() -> None:
    from bot.config import JobsSettings

    intervals = JobsSettings().intervals.model_dump()
    assert set(JOBS) <= set(intervals)
    assert all(v > 0 for v in intervals.values())
