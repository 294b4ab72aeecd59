"""The engine's public surface: everything outside `engine/` imports from here, and only here.

`SearchService` is the facade (search, and one part per concern: library, users,
understanding, crowd, platform handles); the rest are its boundary types, its settings, its
errors, and the evaluation tracks. Names load on first use, so that `python -m engine.<module>`
(the TGS renderer's child process) does not pay for the models behind the facade.
"""

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.animation import PostableMedia, postable_media
    from engine.benchmark.report import format_bench
    from engine.benchmark.run import BenchOptions, run_benchmark
    from engine.errors import (
        ConfigError,
        InvalidInputError,
        JobLeaseHeldError,
        LibraryLockedError,
        MediaError,
        ModelError,
        OperatorError,
        PackNotFoundError,
        StickerbotError,
        StickerNotFoundError,
        UnsupportedFormatError,
        UserFacingError,
    )
    from engine.evaluation import (
        DevSet,
        TrackResult,
        TypingResult,
        blind_track,
        format_table,
        format_typing_table,
        latency_summary,
        lexicon_track,
        load_devset,
        typing_track,
    )
    from engine.ingest import ImportItem, items_from_path
    from engine.leases import HeldLease, JobLeases
    from engine.loso import LosoFold, LosoPlan, LosoResult, import_pack_per_style, loso_track
    from engine.redaction import RedactingFilter, Redactor
    from engine.service import Job, SearchService
    from engine.settings import (
        CrowdSettings,
        EngineSettings,
        IngestSettings,
        PersonalizationSettings,
        SearchSettings,
        StorageSettings,
        TextModelSettings,
        UnderstandingSettings,
        VectorSettings,
    )
    from engine.simulation import (
        CrowdResult,
        PersonalizationResult,
        crowd_track,
        personalization_track,
    )
    from engine.surface import CrowdApi, LibraryApi, PlatformApi, UnderstandingApi, UsersApi
    from engine.types import (
        MAX_PAGE,
        MAX_QUERY_CHARS,
        MAX_SPACE,
        MAX_USER_KEY,
        AnnotateReport,
        EngineStatus,
        ForgetReport,
        ImportedFile,
        ImportReport,
        InteractionInfo,
        InteractionKind,
        LibraryStats,
        PackInfo,
        PendingUpload,
        PlatformHandle,
        Progress,
        ProposalInfo,
        SearchPage,
        SearchQuery,
        SimilarQuery,
        StickerHit,
        StickerInfo,
        StickerUtility,
        Suggestion,
    )

_EXPORTS: dict[str, tuple[str, ...]] = {
    "engine.animation": ("PostableMedia", "postable_media"),
    "engine.benchmark.report": ("format_bench",),
    "engine.benchmark.run": ("BenchOptions", "run_benchmark"),
    "engine.errors": (
        "ConfigError",
        "InvalidInputError",
        "JobLeaseHeldError",
        "LibraryLockedError",
        "MediaError",
        "ModelError",
        "OperatorError",
        "PackNotFoundError",
        "StickerNotFoundError",
        "StickerbotError",
        "UnsupportedFormatError",
        "UserFacingError",
    ),
    "engine.evaluation": (
        "DevSet",
        "TrackResult",
        "TypingResult",
        "blind_track",
        "format_table",
        "format_typing_table",
        "latency_summary",
        "lexicon_track",
        "load_devset",
        "typing_track",
    ),
    "engine.ingest": ("ImportItem", "items_from_path"),
    "engine.leases": ("HeldLease", "JobLeases"),
    "engine.loso": ("LosoFold", "LosoPlan", "LosoResult", "import_pack_per_style", "loso_track"),
    "engine.redaction": ("RedactingFilter", "Redactor"),
    "engine.service": ("Job", "SearchService"),
    "engine.settings": (
        "CrowdSettings",
        "EngineSettings",
        "IngestSettings",
        "PersonalizationSettings",
        "SearchSettings",
        "StorageSettings",
        "TextModelSettings",
        "UnderstandingSettings",
        "VectorSettings",
    ),
    "engine.simulation": (
        "CrowdResult",
        "PersonalizationResult",
        "crowd_track",
        "personalization_track",
    ),
    "engine.surface": ("CrowdApi", "LibraryApi", "PlatformApi", "UnderstandingApi", "UsersApi"),
    "engine.types": (
        "MAX_PAGE",
        "MAX_QUERY_CHARS",
        "MAX_SPACE",
        "MAX_USER_KEY",
        "AnnotateReport",
        "EngineStatus",
        "ForgetReport",
        "ImportReport",
        "ImportedFile",
        "InteractionInfo",
        "InteractionKind",
        "LibraryStats",
        "PackInfo",
        "PendingUpload",
        "PlatformHandle",
        "Progress",
        "ProposalInfo",
        "SearchPage",
        "SearchQuery",
        "SimilarQuery",
        "StickerHit",
        "StickerInfo",
        "StickerUtility",
        "Suggestion",
    ),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = [
    "MAX_PAGE",
    "MAX_QUERY_CHARS",
    "MAX_SPACE",
    "MAX_USER_KEY",
    "AnnotateReport",
    "BenchOptions",
    "ConfigError",
    "CrowdApi",
    "CrowdResult",
    "CrowdSettings",
    "DevSet",
    "EngineSettings",
    "EngineStatus",
    "ForgetReport",
    "HeldLease",
    "ImportItem",
    "ImportReport",
    "ImportedFile",
    "IngestSettings",
    "InteractionInfo",
    "InteractionKind",
    "InvalidInputError",
    "Job",
    "JobLeaseHeldError",
    "JobLeases",
    "LibraryApi",
    "LibraryLockedError",
    "LibraryStats",
    "LosoFold",
    "LosoPlan",
    "LosoResult",
    "MediaError",
    "ModelError",
    "OperatorError",
    "PackInfo",
    "PackNotFoundError",
    "PendingUpload",
    "PersonalizationResult",
    "PersonalizationSettings",
    "PlatformApi",
    "PlatformHandle",
    "PostableMedia",
    "Progress",
    "ProposalInfo",
    "RedactingFilter",
    "Redactor",
    "SearchPage",
    "SearchQuery",
    "SearchService",
    "SearchSettings",
    "SimilarQuery",
    "StickerHit",
    "StickerInfo",
    "StickerNotFoundError",
    "StickerUtility",
    "StickerbotError",
    "StorageSettings",
    "Suggestion",
    "TextModelSettings",
    "TrackResult",
    "TypingResult",
    "UnderstandingApi",
    "UnderstandingSettings",
    "UnsupportedFormatError",
    "UserFacingError",
    "UsersApi",
    "VectorSettings",
    "blind_track",
    "crowd_track",
    "format_bench",
    "format_table",
    "format_typing_table",
    "import_pack_per_style",
    "items_from_path",
    "latency_summary",
    "lexicon_track",
    "load_devset",
    "loso_track",
    "personalization_track",
    "postable_media",
    "run_benchmark",
    "typing_track",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
