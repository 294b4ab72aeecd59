"""Background jobs as plain async functions over the engine; blocking work runs in threads."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine import Progress, SearchService

# A job: one run over the engine, returning a one-line summary (adapters contribute the same).
JobFunc = Callable[[SearchService], Awaitable[str]]


@dataclass(frozen=True)
class JobOutcome:
    """What a job run did, in one line for logs and status commands."""

    name: str
    summary: str


async def annotate_job(svc: SearchService) -> str:
    """Describe new or stale stickers: OCR, VLM, NSFW, style."""
    limit = svc.settings.understanding.job_limit
    report = await asyncio.to_thread(svc.understanding.annotate, limit)
    failed = f", {len(report.failed)} failed" if report.failed else ""
    left = f", {report.remaining} left" if report.remaining else ""
    return f"{report.annotated} stickers annotated{failed}{left}"


async def utility_job(svc: SearchService) -> str:
    """Recompute crowd utility (clicks, unique users, versatility)."""
    n = await asyncio.to_thread(svc.crowd.update_utility)
    return f"{n} stickers with utility"


async def history_queries_job(svc: SearchService) -> str:
    """Learn the queries under which users chose each sticker."""
    n = await asyncio.to_thread(svc.crowd.update_history_queries)
    return f"{n} stickers with learned queries"


async def profiles_job(svc: SearchService) -> str:
    """Recompute style profiles of users with new interactions."""
    n = await asyncio.to_thread(svc.crowd.update_profiles)
    return f"{n} user profiles updated"


async def index_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Re-embed sticker documents whose text (or the configured text model) changed."""
    n = await asyncio.to_thread(svc.library.refresh, progress)
    return f"{n} documents re-embedded"


# Order matters when all run at once: annotations and learned queries feed the text index.
JOBS: dict[str, JobFunc] = {
    "annotate": annotate_job,
    "utility": utility_job,
    "history_queries": history_queries_job,
    "profiles": profiles_job,
    "index": index_job,
}


async def run_jobs(
    svc: SearchService, names: list[str], index_progress: Progress | None = None
) -> list[JobOutcome]:
    """Run the named jobs (all when empty) one after another; `index_progress` watches `index`."""
    outcomes = []
    for name in names or list(JOBS):
        run = index_job(svc, index_progress) if name == "index" else JOBS[name](svc)
        outcomes.append(JobOutcome(name, await run))
    return outcomes
