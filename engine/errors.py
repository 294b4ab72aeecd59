"""The engine's exception tree.

    StickerbotError
    ├── UserFacingError       any chat may show its message: written for the person who caused it
    │   ├── PackNotFoundError, StickerNotFoundError, InvalidInputError
    │   └── MediaError
    │       └── UnsupportedFormatError
    └── OperatorError         for the CLI and the logs only: may name paths, settings, variables
        ├── ConfigError, LibraryLockedError
        ├── JobLeaseHeldError another process runs this background job now
        └── ModelError        a model that is missing, failed to load or failed to run

Adapters show a `UserFacingError`'s message and a generic apology for everything else, so an
`OperatorError` never reaches a chat.
"""

from datetime import datetime


class StickerbotError(Exception):
    """Base class of every error the engine raises on purpose."""


class UserFacingError(StickerbotError):
    """An error whose message is written for the person who caused it."""


class PackNotFoundError(UserFacingError):
    """The named pack is not in the library."""


class StickerNotFoundError(UserFacingError):
    """The sticker id is not in the library."""


class InvalidInputError(UserFacingError):
    """A path, manifest row, query or argument that cannot be used."""


class MediaError(UserFacingError):
    """A media file that is corrupt, too large or of an unsupported format."""


class UnsupportedFormatError(MediaError):
    """A recognised format that this installation cannot decode yet."""


class OperatorError(StickerbotError):
    """A problem only the operator can fix; its message may name paths and settings."""


class ConfigError(OperatorError):
    """Configuration that is missing or invalid."""


class LibraryLockedError(OperatorError):
    """Another process holds the embedded library for writing."""


class ModelError(OperatorError):
    """A configured model is missing, failed to load or failed to run."""


class JobLeaseHeldError(OperatorError):
    """Another process holds the job's lease: it runs the job now."""

    def __init__(self, job: str, holder: str, until: datetime | None = None) -> None:
        self.job, self.holder, self.until = job, holder, until
        expiry = f" until {until:%H:%M:%S} UTC unless renewed" if until else ""
        super().__init__(f"job {job} is running in another process ({holder} holds it{expiry})")
