"""APScheduler wiring: every job on its interval, never two runs at once, each run recorded."""

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import (  # type: ignore[import-untyped]
    EVENT_JOB_MAX_INSTANCES,
    EVENT_JOB_MISSED,
    JobEvent,
)
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.interval import IntervalTrigger  # type: ignore[import-untyped]

from engine import HeldLease, JobLeaseHeldError, SearchService
from jobs.settings import DEFAULT_LEASE_S
from jobs.tasks import JOBS, JobFunc

log = logging.getLogger(__name__)
MAX_ERROR_CHARS = 300  # a status line must fit a chat message


def now_utc() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def span(seconds: float) -> str:
    """A duration for people: 0.2s, 45s, 15m, 2h, 1.5d."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{round(seconds, 1):g}s"


@dataclass
class JobRecord:
    """The run history of one scheduled job, as the status command shows it."""

    name: str
    interval_s: float
    runs: int = 0
    failures: int = 0
    # Runs dropped: the previous one was still going, it was too late, or another process
    # held the job's lease; `last_skip` says why the latest was.
    skipped: int = 0
    last_skip: str | None = None
    running: bool = False
    last_start: datetime | None = None
    last_finish: datetime | None = None
    last_ok: bool = True
    last_outcome: str | None = None
    last_error: str | None = None

    def line(self, now: datetime) -> str:
        """One line: schedule, state, the last result and the counts."""
        head = f"{self.name} every {span(self.interval_s)}"
        skips = f"skipped {self.skipped}: {self.last_skip}" if self.skipped else ""
        if self.last_start is None:
            return f"{head}: not run here yet ({skips})" if skips else f"{head}: not run yet"
        counts = f"runs {self.runs}, failed {self.failures}"
        counts += f", {skips}" if skips else ""
        parts = [self._state(now)]
        if self.runs:
            parts.append(self._result())
        return f"{head}: {', '.join(parts)} ({counts})"

    def _result(self) -> str:
        return f"ok: {self.last_outcome}" if self.last_ok else f"FAILED: {self.last_error}"

    def _state(self, now: datetime) -> str:
        assert self.last_start is not None
        if self.running or self.last_finish is None:
            return f"running for {span((now - self.last_start).total_seconds())}"
        took = span((self.last_finish - self.last_start).total_seconds())
        return f"last run {span((now - self.last_finish).total_seconds())} ago, took {took}"


class JobStatus:
    """Records every scheduled run; `status_lines()` feeds the bots' /status."""

    def __init__(
        self,
        redact: Callable[[str], str] = str,
        clock: Callable[[], datetime] = now_utc,
        lease_s: float = DEFAULT_LEASE_S,
    ) -> None:
        self.records: dict[str, JobRecord] = {}
        self._redact = redact  # error texts reach a chat: keep tokens out of them
        self._clock = clock
        self._lease_s = lease_s
        self._tasks: set[asyncio.Task[None]] = set()

    def register(self, name: str, interval_s: float) -> None:
        """Start tracking a job scheduled every `interval_s` seconds."""
        self.records[name] = JobRecord(name, interval_s)

    async def run(self, name: str, func: JobFunc, svc: SearchService) -> None:
        """What the scheduler calls: run the job and record how it went; never raises."""
        task = asyncio.create_task(self._record(name, func, svc), name=f"job:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        try:
            # Shielded: a scheduler shutdown cancels this await but not the job, whose thread
            # could not be stopped anyway; `drain` waits for it before the library closes.
            await asyncio.shield(task)
        except asyncio.CancelledError:
            # Expected at shutdown; letting it through makes APScheduler log it as a failure.
            log.debug("job %s goes on after the scheduler stopped", name)

    async def _record(self, name: str, func: JobFunc, svc: SearchService) -> None:
        rec = self.records.setdefault(name, JobRecord(name, 0.0))
        lease = await self._take(rec, svc)
        if lease is None:
            return
        try:
            await self._run_once(rec, func, svc)
        finally:
            await _release(lease)

    async def _take(self, rec: JobRecord, svc: SearchService) -> HeldLease | None:
        """The job's lease, or None: held by another process (a skip) or not to be had."""
        try:
            # Not a job thread: those may all be busy with long runs, and this is quick.
            return await asyncio.to_thread(svc.leases.take, rec.name, self._lease_s)
        except JobLeaseHeldError as held:
            rec.skipped += 1
            rec.last_skip = f"held by {held.holder}"
            log.info("job %s: skipped, %s", rec.name, held)
        except Exception as exc:
            log.exception("job %s: could not take its lease", rec.name)
            rec.last_start = rec.last_finish = self._clock()
            rec.runs += 1
            self._failed(rec, exc)
        return None

    async def _run_once(self, rec: JobRecord, func: JobFunc, svc: SearchService) -> None:
        rec.running, rec.last_start = True, self._clock()
        started = time.monotonic()
        try:
            summary = await func(svc)
        except Exception as exc:
            # Never let a job's failure reach APScheduler: the next run should simply try again.
            log.exception("job %s failed after %.1fs", rec.name, time.monotonic() - started)
            self._failed(rec, exc)
        else:
            log.info("job %s: %s (%.1fs)", rec.name, summary, time.monotonic() - started)
            rec.last_ok, rec.last_outcome = True, summary
        finally:
            rec.runs += 1
            rec.running, rec.last_finish = False, self._clock()

    def _failed(self, rec: JobRecord, exc: BaseException) -> None:
        rec.failures += 1
        rec.last_ok, rec.last_error = False, self._error_text(exc)

    def _error_text(self, exc: BaseException) -> str:
        text = self._redact(f"{type(exc).__name__}: {exc}".strip())
        return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"

    def on_event(self, event: JobEvent) -> None:
        """Scheduler listener: count runs skipped as overlapping or too late."""
        rec = self.records.get(event.job_id)
        if rec is not None:
            rec.skipped += 1
            rec.last_skip = "still running" if event.code == EVENT_JOB_MAX_INSTANCES else "too late"
            log.debug("job %s: a run was skipped (%s)", event.job_id, rec.last_skip)

    def running(self) -> list[str]:
        """Names of the jobs running now."""
        return [r.name for r in self.records.values() if r.running]

    async def drain(self, timeout: float) -> list[str]:
        """Wait up to `timeout` seconds for running jobs; return those still running."""
        deadline = time.monotonic() + timeout
        while (busy := {t for t in self._tasks if not t.done()}) and (
            left := deadline - time.monotonic()
        ) > 0:
            await asyncio.wait(busy, timeout=left)
        return self.running()

    def status_lines(self) -> list[str]:
        """Status lines: one per scheduled job."""
        if not self.records:
            return ["background jobs: none scheduled in this process"]
        now = self._clock()
        return [rec.line(now) for rec in self.records.values()]


async def _release(lease: HeldLease) -> None:
    try:
        await asyncio.to_thread(lease.release)
    except Exception:
        # Harmless: the lease lapses on its own after its time.
        log.warning("job %s: could not release its lease", lease.job, exc_info=True)


def build_scheduler(
    svc: SearchService,
    status: JobStatus,
    intervals: Mapping[str, float],
    jobs: Mapping[str, JobFunc] = JOBS,
    *,
    first_run_delay_s: float = 0.0,
    misfire_grace_s: int = 60,
) -> AsyncIOScheduler:
    """A scheduler (not started) running each job whose interval is positive."""
    scheduler = AsyncIOScheduler(
        timezone=UTC,
        # coalesce: runs missed while the process was busy become one run, not a burst.
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": misfire_grace_s,
        },
    )
    first = now_utc() + timedelta(seconds=first_run_delay_s)
    for name, func in jobs.items():
        seconds = float(intervals.get(name, 0.0))
        if seconds <= 0:
            log.info("job %s is off (interval 0)", name)
            continue
        status.register(name, seconds)
        trigger = IntervalTrigger(seconds=seconds, start_date=first, timezone=UTC)
        # next_run_time: the trigger alone would wait a whole interval before the first run.
        scheduler.add_job(
            status.run, trigger, args=(name, func, svc), id=name, name=name, next_run_time=first
        )
    scheduler.add_listener(status.on_event, EVENT_JOB_MAX_INSTANCES | EVENT_JOB_MISSED)
    return scheduler


async def stop_scheduler(scheduler: AsyncIOScheduler) -> None:
    """Stop starting new runs; running jobs go on (see `JobStatus.drain`)."""
    if scheduler.running:
        scheduler.shutdown(wait=False)
        # AsyncIOScheduler defers the shutdown to the loop: let it happen before returning.
        await asyncio.sleep(0)
