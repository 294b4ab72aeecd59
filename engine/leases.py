"""Job leases in the library database: each background job runs in one process at a time.

A lease is a row of `job_leases`, taken by one atomic insert-or-update-where-expired, renewed
by a thread while its run lasts and deleted at the end. A holder that crashed stops renewing:
its lease expires and the next taker gets it.
"""

import logging
import os
import secrets
import socket
import threading
from datetime import UTC, datetime, timedelta
from types import TracebackType

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from engine.errors import InvalidInputError, JobLeaseHeldError
from engine.schema import JobLease
from engine.storage import Database

log = logging.getLogger(__name__)
MAX_HOST = 96  # holder = host:pid:random must fit its 128-character column


def holder_id() -> str:
    """This process's name for itself as a holder: hostname:pid:random."""
    return f"{socket.gethostname()[:MAX_HOST]}:{os.getpid()}:{secrets.token_hex(4)}"


def _now(session: Session) -> datetime:
    """The database's clock where it has one (PostgreSQL): hosts' clocks may disagree."""
    if session.get_bind().dialect.name == "postgresql":
        return session.scalars(select(func.now())).one()
    return datetime.now(UTC)


def _aware(when: datetime) -> datetime:
    return when if when.tzinfo else when.replace(tzinfo=UTC)  # SQLite returns naive UTC


class JobLeases:
    """Take, renew and release the leases of named jobs, as one holder per open library."""

    def __init__(self, db: Database, holder: str | None = None) -> None:
        self._db = db
        self.holder = holder or holder_id()

    def take(self, job: str, ttl_s: float) -> "HeldLease":
        """Take the job's lease (renewed until released), or raise `JobLeaseHeldError`."""
        if ttl_s <= 0:
            raise InvalidInputError("a lease must last some time")
        for _ in range(2):  # the holder may release it between our claim and our look
            if self._claim(job, ttl_s):
                return HeldLease(self, job, ttl_s)
            held = self.holder_of(job)
            if held is not None:
                raise JobLeaseHeldError(job, *held)
        raise JobLeaseHeldError(job, "another process")

    def _claim(self, job: str, ttl_s: float) -> bool:
        """Insert the lease, or take it over if it has expired: one atomic statement."""
        with self._db.session() as s:
            now = _now(s)
            row = {"name": job, "holder": self.holder, "expires_at": now + timedelta(seconds=ttl_s)}
            dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
            stmt = dialect.insert(JobLease).values(row)
            stmt = stmt.on_conflict_do_update(
                index_elements=[JobLease.name],
                set_={"holder": stmt.excluded.holder, "expires_at": stmt.excluded.expires_at},
                where=JobLease.expires_at < now,
            )
            # RETURNING says whether a row was written: rowcount is -1 here on psycopg.
            return s.execute(stmt.returning(JobLease.name)).first() is not None

    def renew(self, job: str, ttl_s: float) -> bool:
        """Push our lease's expiry `ttl_s` from now; False if it is no longer ours."""
        with self._db.session() as s:
            until = _now(s) + timedelta(seconds=ttl_s)
            mine = (JobLease.name == job) & (JobLease.holder == self.holder)
            stmt = update(JobLease).where(mine).values(expires_at=until).returning(JobLease.name)
            return s.execute(stmt).first() is not None

    def release(self, job: str) -> None:
        """Give our lease up (someone else's is left alone)."""
        with self._db.session() as s:
            s.execute(delete(JobLease).where(JobLease.name == job, JobLease.holder == self.holder))

    def holder_of(self, job: str) -> tuple[str, datetime] | None:
        """Who holds the job's lease and until when, if anyone does and it has not expired."""
        with self._db.session() as s:
            row = s.get(JobLease, job)
            if row is None or _aware(row.expires_at) <= _aware(_now(s)):
                return None
            return row.holder, _aware(row.expires_at)


class HeldLease:
    """A lease this process holds; a thread renews it every third of its time until released."""

    def __init__(self, leases: JobLeases, job: str, ttl_s: float) -> None:
        self.job, self.holder = job, leases.holder
        self.lost = False  # set when a renewal found the lease gone (we stalled past its expiry)
        self._leases, self._ttl_s = leases, ttl_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep, name=f"lease:{job}", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        while not self._stop.wait(self._ttl_s / 3):
            try:
                renewed = self._leases.renew(self.job, self._ttl_s)
            except Exception:
                # A database hiccup: two more tries come before the lease expires.
                log.warning("could not renew the lease of job %s", self.job, exc_info=True)
                continue
            if not renewed:
                self.lost = True
                log.error("job %s lost its lease: another process may run it now", self.job)
                return

    def release(self) -> None:
        """Stop renewing and give the lease up."""
        self._stop.set()
        self._thread.join()
        if not self.lost:
            self._leases.release(self.job)

    def __enter__(self) -> "HeldLease":
        return self

    def __exit__(
        self, exc: type[BaseException] | None, val: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
