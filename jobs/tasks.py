"""Background jobs as plain async functions over the engine; blocking work runs in threads."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.service import SearchService


@dataclass(frozen=True)
class JobOutcome:
    """What a job run did, in one line for logs and status commands."""

    name: str
    summary: str


async def annotate_job(svc: SearchService) -> JobOutcome:
    """Describe new or stale stickers: OCR, VLM, NSFW, style."""
    report = await asyncio.to_thread(svc.annotate, svc.settings.understanding.job_limit)
    failed = f", {len(report.failed)} failed" if report.failed else ""
    left = f", {report.remaining} left" if report.remaining else ""
    return JobOutcome("annotate", f"{report.annotated} stickers annotated{failed}{left}")


async def utility_job(svc: SearchService) -> JobOutcome:
    """Recompute crowd utility (clicks, unique users, versatility)."""
    n = await asyncio.to_thread(svc.update_utility)
    return JobOutcome("utility", f"{n} stickers with utility")


async def history_queries_job(svc: SearchService) -> JobOutcome:
    """Learn the queries under which users chose each sticker."""
    n = await asyncio.to_thread(svc.update_history_queries)
    return JobOutcome("history_queries", f"{n} stickers with learned queries")


async def profiles_job(svc: SearchService) -> JobOutcome:
    """Recompute style profiles of users with new interactions."""
    n = await asyncio.to_thread(svc.update_profiles)
    return JobOutcome("profiles", f"{n} user profiles updated")


async def index_job(svc: SearchService) -> JobOutcome:
    """Re-embed sticker documents whose text changed."""
    n = await asyncio.to_thread(svc.refresh)
    return JobOutcome("index", f"{n} documents re-embedded")


JobFunc = Callable[[SearchService], Awaitable[JobOutcome]]
# Order matters when all run at once: annotations and learned queries feed the text index.
JOBS: dict[str, JobFunc] = {
    "annotate": annotate_job,
    "utility": utility_job,
    "history_queries": history_queries_job,
    "profiles": profiles_job,
    "index": index_job,
}


async def run_jobs(svc: SearchService, names: list[str]) -> list[JobOutcome]:
    """Run the named jobs (all when empty) one after another."""
    return [await JOBS[name](svc) for name in (names or list(JOBS))]
