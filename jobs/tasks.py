"""Background jobs as plain async functions over the engine; blocking work runs in threads."""

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from engine import Job, Progress, SearchService

T = TypeVar("T")
# Jobs get threads of their own: the loop's default executor is awaited when the loop closes,
# and a shutdown must not wait for a job that is still busy.
JOB_THREADS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="job")


@dataclass(frozen=True)
class JobOutcome:
    """What a job run did, in one line for logs and status commands."""

    name: str
    summary: str


async def in_job_thread(func: Callable[..., T], *args: object) -> T:
    """Run a blocking engine call in a job thread."""
    return await asyncio.get_running_loop().run_in_executor(JOB_THREADS, func, *args)


async def annotate_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Describe new or stale stickers (OCR, VLM, NSFW, style): the whole backlog, batch by batch."""
    limit = svc.settings.understanding.job_limit
    report = await in_job_thread(svc.understanding.annotate, limit, progress)
    failed = f", {len(report.failed)} failed" if report.failed else ""
    left = f", {report.remaining} left" if report.remaining else ""
    return f"{report.annotated} stickers annotated{failed}{left}"


async def utility_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Recompute crowd utility (clicks, unique users, versatility)."""
    n = await in_job_thread(svc.crowd.update_utility)
    return f"{n} stickers with utility"


async def history_queries_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Learn the queries under which users chose each sticker."""
    n = await in_job_thread(svc.crowd.update_history_queries)
    return f"{n} stickers with learned queries"


async def profiles_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Recompute style profiles of users with new interactions."""
    n = await in_job_thread(svc.crowd.update_profiles)
    return f"{n} user profiles updated"


async def index_job(svc: SearchService, progress: Progress | None = None) -> str:
    """Re-embed sticker documents whose text (or the configured text model) changed."""
    n = await in_job_thread(svc.library.refresh, progress)
    return f"{n} documents re-embedded"


# Order matters when all run at once: annotations and learned queries feed the text index.
JobFunc = Job  # the shape every job has, the engine's `Job`
JOBS: dict[str, JobFunc] = {
    "annotate": annotate_job,
    "utility": utility_job,
    "history_queries": history_queries_job,
    "profiles": profiles_job,
    "index": index_job,
}


async def run_jobs(
    svc: SearchService,
    names: list[str],
    progress: Callable[[str], Progress | None] = lambda _name: None,
) -> list[JobOutcome]:
    """Run the named jobs (all when empty) one after another, each to completion."""
    return [
        JobOutcome(name, await JOBS[name](svc, progress(name))) for name in (names or list(JOBS))
    ]
