"""`stickerbot eval` runs every track end to end on a small slice of the dev data."""

import json
import shutil
import sys
from pathlib import Path

import pytest

from bot.cli import main
from engine.evaluation import DevSet


@pytest.fixture(scope="module")
def mini_dev(devset: DevSet, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 emoji in all 5 styles, with the dev queries that concern them."""
    root = tmp_path_factory.mktemp("mini-dev")
    emoji = sorted({r["hexcode"] for r in devset.rows})[100:116]
    rows = [r for r in devset.rows if r["hexcode"] in emoji]
    (root / "stickers").mkdir()
    for r in rows:
        shutil.copyfile(devset.root / r["file"], root / r["file"])
    (root / "manifest.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8"
    )
    queries = [
        {"locale": q.locale, "query": q.text, "relevant": sorted(q.relevant & set(emoji))}
        for q in devset.queries
        if q.relevant & set(emoji)
    ]
    (root / "queries-dev.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in queries), encoding="utf-8"
    )
    return root


def test_eval_runs_all_tracks(
    mini_dev: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = [
        "stickerbot",
        "eval",
        "--data",
        str(mini_dev),
        "--work-dir",
        str(tmp_path / "w"),
        "--json",
        str(out),
    ]
    old, sys.argv = sys.argv, argv
    try:
        main()
    finally:
        sys.argv = old
    printed = capsys.readouterr().out
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["lexicon"]["overall"]["ndcg@10"] > 0.9
    assert [r["history"] for r in result["personalization"]] == [3, 10, 30]
    ten = result["personalization"][1]
    assert ten["personalized"]["hit@1_preferred"] > ten["global"]["hit@1_preferred"]
    assert ten["oracle_filter"]["style_share@10"] == 1.0
    assert ten["oracle_boost"]["hit@1_preferred"] >= ten["personalized"]["hit@1_preferred"]
    one_pack, per_style = result["personalization_loso"]
    assert (one_pack["library"], per_style["library"]) == ("one pack", "pack per style")
    styles = sorted({f["held_out"] for f in one_pack["folds"]})
    assert len(styles) == 5 and [f["held_out"] for f in per_style["folds"]] == styles
    for loso in (one_pack, per_style):
        mean = loso["mean"]
        for size in ("3", "10", "30"):  # held out, the preferred style comes first more often
            pers, base = mean["personalized"][size], mean["baseline"][size]
            assert pers["hit@1_preferred"] > base["hit@1_preferred"] + 0.2
            assert pers["ndcg@10"] >= base["ndcg@10"] - 0.01
        assert "rule=persrv" in loso["variants"] and "default" in loso["variants"]
        assert loso["chosen_on_all"] in loso["variants"]
    assert "pack_weight=0" in per_style["variants"] and "pack_weight=0" not in one_pack["variants"]
    assert result["blind"]["overall"]["ndcg@10"] < result["lexicon"]["overall"]["ndcg@10"]
    crowd = result["crowd"]
    assert [c["picks"] for c in crowd] == [0, 100, 1000, 5000]
    assert crowd[-1]["ndcg"] > crowd[0]["ndcg"]
    assert "gNDCG@10" in printed and "picks" in printed
    assert "leave-one-style-out, pack per style (held-out figures only)" in printed


def test_eval_typing_track(
    mini_dev: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "eval.json"
    argv = ["stickerbot", "eval", "--data", str(mini_dev), "--tracks", "typing"]
    old, sys.argv = sys.argv, [*argv, "--work-dir", str(tmp_path / "w"), "--json", str(out)]
    try:
        main()
    finally:
        sys.argv = old
    printed = capsys.readouterr().out
    typing = json.loads(out.read_text(encoding="utf-8"))["typing"]
    overall = typing["overall"]
    assert overall["prefix_queries"] > 0 and overall["typo_queries"] > 0
    assert overall["prefix_ratio"] > 0.5
    assert overall["typo_ratio"] > 0.7
    assert 0.0 <= typing["embedding_cache_hit_rate"] <= 1.0
    assert "typing track" in printed and "hit rate" in printed
