"""The [jobs] section of config.toml: the background scheduler and each job's interval."""

from pydantic import BaseModel, ConfigDict, Field


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class JobIntervals(_Section):
    """Seconds between runs of each background job; 0 turns a job off."""

    annotate: float = Field(
        default=60.0, ge=0
    )  # a run drains the backlog: this is the pickup delay
    utility: float = Field(default=900.0, ge=0)
    history_queries: float = Field(default=900.0, ge=0)
    profiles: float = Field(default=300.0, ge=0)
    index: float = Field(default=600.0, ge=0)
    telegram_uploads: float = Field(default=120.0, ge=0)


class JobsSettings(_Section):
    """The background job scheduler of `stickerbot run` and `stickerbot worker`."""

    enabled: bool = True
    first_run_delay_s: float = Field(default=10.0, ge=0)  # let the bots come up first
    # A run that starts this late (the process was busy or asleep) is skipped, not run late.
    misfire_grace_s: int = Field(default=60, ge=1)
    # How long shutdown waits for a running job to finish its batch before exiting without it.
    shutdown_grace_s: float = Field(default=5.0, ge=0)
    intervals: JobIntervals = JobIntervals()
