"""The engine's exception tree: only `UserFacingError` messages may be shown to chat users."""


class StickerbotError(Exception):
    """Base class of every error the engine raises on purpose."""


class UserFacingError(StickerbotError):
    """An error whose message is written for the person who caused it."""


class LibraryLockedError(UserFacingError):
    """Another process holds the embedded library for writing."""


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


class ConfigError(UserFacingError):
    """Configuration that is missing or invalid."""
