"""The benchmark's targets (issue #12) and its table."""

from collections.abc import Callable
from typing import Any

Result = dict[str, Any]


def _get(r: Result, *path: str) -> float | None:
    value: Any = r
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _target(name: str, value: float | None, limit: float, ok: Callable[[float], bool]) -> Result:
    status = "n/a" if value is None else ("pass" if ok(value) else "miss")
    return {"target": name, "value": value, "limit": limit, "status": status}


def check_targets(results: Result) -> list[Result]:
    """Pass or miss per target, for the sizes that ran (a size not run is not listed)."""
    out: list[Result] = []
    at100k, at1m = results.get("100000"), results.get("1000000")
    if at100k:
        out += [
            _target(
                "100k novel p50 <= 15 ms", _get(at100k, "novel", "p50_ms"), 15, lambda v: v <= 15
            ),
            _target(
                "100k novel p99 <= 40 ms", _get(at100k, "novel", "p99_ms"), 40, lambda v: v <= 40
            ),
            _target(
                "100k typing p50 <= 10 ms", _get(at100k, "typing", "p50_ms"), 10, lambda v: v <= 10
            ),
        ]
    if at1m:
        out += [
            _target("1M novel p99 <= 80 ms", _get(at1m, "novel", "p99_ms"), 80, lambda v: v <= 80),
            _target(
                "1M RSS without models <= 2048 MB",
                _get(at1m, "restart", "rss_without_models_mb"),
                2048,
                lambda v: v <= 2048,
            ),
            _target(
                "1M RSS without models, vectors on a Chroma server <= 2048 MB",
                _get(at1m, "restart_server", "rss_without_models_mb"),
                2048,
                lambda v: v <= 2048,
            ),
        ]
    for size, r in results.items():
        if not size.isdigit():
            continue
        idle, busy = _get(r, "novel", "p99_ms"), _get(r, "during_import", "p99_ms")
        ratio = round(busy / idle, 2) if idle and busy is not None else None
        out.append(_target(f"{size} p99 during import <= 2x idle", ratio, 2, lambda v: v <= 2))
        if "vs_peer" in r:
            speed = _get(r, "vs_peer", "speedup_p50")
            recall_ok = (_get(r, "vs_peer", "recall_delta") or 0) >= 0
            out.append(
                _target(
                    f"{size} >= 10x faster than peer (p50) at >= its recall@10",
                    speed,
                    10,
                    (lambda v: v >= 10) if recall_ok else (lambda v: False),
                )
            )
    return out


COLUMNS = (
    ("build s", ("build", "total_s")),
    ("novel p50", ("novel", "p50_ms")),
    ("p99", ("novel", "p99_ms")),
    ("max", ("novel", "max_ms")),
    ("qps", ("novel", "qps")),
    ("typing p50", ("typing", "p50_ms")),
    ("p99", ("typing", "p99_ms")),
    ("conc8 p50", ("concurrent8", "p50_ms")),
    ("p99", ("concurrent8", "p99_ms")),
    ("qps", ("concurrent8", "qps")),
    ("import p99", ("during_import", "p99_ms")),
    ("searchable s", ("searchable", "searchable_s")),
    ("restart s", ("restart", "first_answer_s")),
    ("RSS MB", ("restart", "rss_mb")),
    ("w/o models", ("restart", "rss_without_models_mb")),
    ("disk MB", ("disk_mb",)),
)
QUALITY = (
    ("ours R@10", ("novel", "recall@10")),
    ("ours NDCG", ("novel", "ndcg@10")),
    ("peer p50", ("peer", "novel", "p50_ms")),
    ("peer p99", ("peer", "novel", "p99_ms")),
    ("peer typing p50", ("peer", "typing", "p50_ms")),
    ("peer R@10", ("peer", "novel", "recall@10")),
    ("peer NDCG", ("peer", "novel", "ndcg@10")),
    ("speedup p50", ("vs_peer", "speedup_p50")),
    ("speedup p99", ("vs_peer", "speedup_p99")),
)


SERVED = (
    ("restart s", ("restart", "first_answer_s")),
    ("w/o models", ("restart", "rss_without_models_mb")),
    ("with a server: restart s", ("restart_server", "first_answer_s")),
    ("bot w/o models", ("restart_server", "rss_without_models_mb")),
    ("Chroma server", ("restart_server", "chroma_server_rss_mb")),
)


def _table(results: Result, columns: tuple[tuple[str, tuple[str, ...]], ...]) -> list[str]:
    sizes = [s for s in results if s.isdigit()]
    head = ["size", *(c for c, _ in columns)]
    rows = [head] + [
        [f"{int(s):,}", *(_fmt(_get(results[s], *path)) for _, path in columns)] for s in sizes
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return ["  ".join(cell.rjust(w) for cell, w in zip(r, widths, strict=True)) for r in rows]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}" if value < 1 else f"{value:.1f}"


def format_bench(results: Result) -> str:
    """Latency (ms), memory and quality per size, then the targets."""
    lines = ["latency in ms; ours = full hot path (SearchService.search, page of 50)", ""]
    lines += [*_table(results, COLUMNS), "", *_table(results, QUALITY), ""]
    if any(isinstance(r, dict) and "restart_server" in r for r in results.values()):
        lines += ["restart, MB of RSS: embedded Chroma / a Chroma server", ""]
        lines += [*_table(results, SERVED), ""]
    annotation = results.get("annotation")
    if annotation:
        rates = ", ".join(f"{k} {v}" for k, v in annotation.items() if k.endswith("_per_s"))
        lines += [
            f"annotation (sample of {annotation['sample']}): {rates}; VLM {annotation['vlm']}",
            "",
        ]
    for t in results.get("targets", []):
        lines.append(f"  [{t['status']:4s}] {t['target']}: {_fmt(t['value'])}")
    return "\n".join(lines)
