"""The facade's parts, one per concern: library, users, understanding, crowd, platform handles."""

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from engine import handles, proposals, users
from engine.core import Core
from engine.crowd import aggregate, load_utility, recompute_history_queries, recompute_utility
from engine.ingest import ImportItem, items_from_path
from engine.personalize import build_profile, load_history, save_profile, users_needing_profiles
from engine.types import (
    AnnotateReport,
    ForgetReport,
    ImportReport,
    InteractionInfo,
    InteractionKind,
    LibraryStats,
    PackInfo,
    PendingUpload,
    PlatformHandle,
    Progress,
    ProposalInfo,
    StickerInfo,
    StickerUtility,
)


class LibraryApi:
    """Packs and stickers: import, list, remove, and pack proposals."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def import_path(
        self,
        path: Path,
        pack: str,
        title: str = "",
        added_by: str = "",
        progress: Progress | None = None,
        index_progress: Progress | None = None,
    ) -> ImportReport:
        """Import a folder, zip archive, manifest JSONL or single file as a local pack."""
        items = items_from_path(path, self._core.settings.ingest.max_file_bytes)
        return self.import_items(
            items,
            pack,
            title=title,
            added_by=added_by,
            progress=progress,
            index_progress=index_progress,
        )

    def import_items(
        self,
        items: Sequence[ImportItem],
        pack: str,
        *,
        source: str = "local",
        title: str = "",
        added_by: str = "",
        progress: Progress | None = None,
        index_progress: Progress | None = None,
        space: str | None = None,
    ) -> ImportReport:
        """Import items into a pack and bring the search indexes up to date.

        A new pack is visible in `space` only (a Discord guild `dc-guild:<id>`), or everywhere
        when it is None; an existing pack keeps its visibility.
        """
        report = self._core.library.import_items(
            pack,
            items,
            source=source,
            title=title,
            added_by=added_by,
            progress=progress,
            space=space,
        )
        self._core.refresh(index_progress)
        return report

    def refresh(self, progress: Progress | None = None) -> int:
        """Bring the search indexes up to date; return how many documents were re-embedded."""
        return self._core.refresh(progress)

    def packs(self) -> list[PackInfo]:
        """All packs with sticker counts, oldest first."""
        return self._core.library.packs()

    def remove_pack(self, name: str, source: str | None = None) -> int:
        """Remove a pack, its stickers, media and vectors; return the number of stickers."""
        core = self._core
        removed = core.library.remove_pack(name, source)
        with core.control.gate:  # vector writes are the ones a hard exit must not cut
            core.text_index.delete(removed)
            if core.style_index is not None:
                core.style_index.delete(removed)
        return len(removed)

    def stickers(self, pack: str | None = None) -> list[StickerInfo]:
        """Every sticker (of one pack, if named), by id."""
        core = self._core
        root = core.media.root
        listed = core.library.stickers(pack, core.settings.search.nsfw_threshold)
        return [
            replace(s, media_path=str(root / s.media_path), preview_path=str(root / s.preview_path))
            for s in listed
        ]

    def set_pack_nsfw(self, name: str, nsfw: bool, source: str | None = None) -> None:
        """Mark a pack NSFW (shown only to users who opt in), or clear the mark."""
        self._core.library.set_pack_nsfw(name, nsfw, source)

    def set_pack_space(self, name: str, space: str | None, source: str | None = None) -> None:
        """Show a pack only in `space`, or everywhere (None: make it public)."""
        self._core.library.set_pack_space(name, space, source)

    def stats(self) -> LibraryStats:
        """How many stickers and packs the library holds, at which revision."""
        core = self._core
        stickers, packs = core.library.counts()
        return LibraryStats(stickers, packs, core.db.revision())

    def propose(self, source: str, name: str, user: str) -> bool:
        """Record a user's pack proposal; False when it is already waiting."""
        return proposals.propose_pack(self._core.db, source, name, user)

    def proposals(self) -> list[ProposalInfo]:
        """Pack proposals waiting for an admin."""
        return proposals.pending_proposals(self._core.db)

    def resolve_proposal(self, source: str, name: str) -> bool:
        """Drop a proposal once its pack is imported; True if one was waiting."""
        return proposals.resolve_proposal(self._core.db, source, name)


class UsersApi:
    """What users do and choose: interactions, forgetting, settings."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def record(
        self,
        user: str,
        sticker_id: int,
        kind: InteractionKind = "chosen",
        query: str = "",
        platform: str = "cli",
        chat_type: str = "",
    ) -> int:
        """Record that a user chose (from results) or sent a sticker; return its id."""
        core = self._core
        row = core.library.record_interaction(user, sticker_id, kind, query, platform, chat_type)
        # The empty-query page lists recent stickers; it must show this one at once.
        core.drop_pages(user, empty_query_only=True)
        return row

    def forget(self, user: str) -> ForgetReport:
        """Delete a user's history, profile (with settings) and cached pages."""
        report = self._core.library.forget_user(user)
        self._core.drop_pages(user)
        return report

    def interactions(self, user: str) -> list[InteractionInfo]:
        """Everything stored about what the user chose and sent, oldest first."""
        return self._core.library.interactions(user)

    def nsfw_opt_in(self, user: str) -> bool:
        """Whether the user opted in to NSFW stickers."""
        return users.nsfw_opt_in(self._core.db, user)

    def set_nsfw_opt_in(self, user: str, on: bool) -> None:
        """Store the user's NSFW choice; it lasts until changed or the user is forgotten."""
        users.set_nsfw_opt_in(self._core.db, user, on)


class UnderstandingApi:
    """Offline sticker understanding: OCR, VLM, NSFW and style stages."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def annotate(
        self,
        limit: int | None = None,
        progress: Progress | None = None,
        only: Sequence[str] | None = None,
    ) -> AnnotateReport:
        """Run the stages over stickers whose annotations are missing or stale."""
        report = self._core.pipeline(only).run(limit, progress)
        self._core.refresh()
        return report

    def backlog(self, only: Sequence[str] | None = None) -> int:
        """How many stickers still need some stage."""
        return len(self._core.pipeline(only).pending())


class CrowdApi:
    """What the crowd's picks teach: utility, learned queries, style profiles."""

    def __init__(self, core: Core) -> None:
        self._core = core

    def update_utility(self) -> int:
        """Recompute crowd utility from interactions; return stickers with utility."""
        core = self._core
        return recompute_utility(core.db, aggregate(core.db), core.settings.crowd)

    def update_history_queries(self) -> int:
        """Recompute learned history queries; return stickers that have some."""
        core = self._core
        return recompute_history_queries(core.db, aggregate(core.db), core.settings.crowd)

    def utility(self) -> dict[int, StickerUtility]:
        """The crowd metrics of every sticker that has any, as the last utility run left them."""
        return load_utility(self._core.db)

    def update_profiles(self, users: Sequence[str] | None = None) -> int:
        """Recompute style profiles of users with new interactions; return how many."""
        core = self._core
        styles = core.fresh_snapshot().styles
        cfg = core.settings.personalization
        todo = list(users) if users is not None else users_needing_profiles(core.db)
        for user in todo:
            history = load_history(core.db, user)
            save_profile(core.db, user, build_profile(history, styles, cfg), len(history))
        return len(todo)


class PlatformApi:
    """One platform's handles of stickers (Telegram file_ids, Discord sticker ids)."""

    def __init__(self, core: Core, platform: str) -> None:
        handles.columns(platform)  # an unknown platform fails here, not at first use
        self._core = core
        self.platform = platform

    def pending_uploads(
        self, limit: int, exclude: frozenset[int] = frozenset()
    ) -> list[PendingUpload]:
        """Stickers this platform cannot send yet, oldest first, with absolute paths."""
        root = self._core.media.root
        return [
            PendingUpload(
                p.sticker_id, p.format, str(root / p.media_path), str(root / p.preview_path)
            )
            for p in handles.pending_uploads(self._core.db, self.platform, limit, exclude)
        ]

    def upload_backlog(self) -> int:
        """How many stickers this platform cannot send yet."""
        return handles.upload_backlog(self._core.db, self.platform)

    def set_handle(self, sticker_id: int, handle: PlatformHandle) -> None:
        """Store the handle an upload or an import returned."""
        handles.set_handle(self._core.db, self.platform, sticker_id, handle)

    def sticker_by_unique_id(self, unique_id: str) -> int | None:
        """The library's sticker with this unique handle, if any."""
        return handles.sticker_by_unique_id(self._core.db, self.platform, unique_id)
