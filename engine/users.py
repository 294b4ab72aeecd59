"""Per-user settings kept beside the style profile (the NSFW opt-in)."""

from datetime import UTC, datetime

from engine.library import validate_user
from engine.schema import UserProfile
from engine.storage import Database

# A profile row created only to hold a setting must still look older than any interaction,
# or the profile job would take it for an up-to-date style profile and skip the user.
NEVER = datetime(1970, 1, 1, tzinfo=UTC)


def nsfw_opt_in(db: Database, user: str) -> bool:
    """Whether the user asked to see NSFW stickers."""
    with db.session() as s:
        row = s.get(UserProfile, validate_user(user))
        return bool(row is not None and row.nsfw_opt_in)


def set_nsfw_opt_in(db: Database, user: str, on: bool) -> None:
    """Store the user's NSFW choice, keeping the rest of their profile."""
    with db.session() as s:
        row = s.get(UserProfile, validate_user(user))
        if row is None:
            row = UserProfile(user_key=user, updated_at=NEVER)
            s.add(row)
        row.nsfw_opt_in = on
