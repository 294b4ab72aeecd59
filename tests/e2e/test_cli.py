"""The `stickerbot` command line, driven as a user would, on a real library."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image

from bot.cli import main

LEXICAL_ONLY = "[search]\ndense = false\n"


def _png(path: Path, color: tuple[int, int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGBA", (64, 64), color).save(path)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A data dir, a config without dense recall (no model load), and a small pack."""
    (tmp_path / "config.toml").write_text(LEXICAL_ONLY, encoding="utf-8")
    pack = tmp_path / "pack"
    for i, color in enumerate([(200, 100, 0, 255), (0, 0, 200, 255), (250, 220, 0, 255)]):
        _png(pack / f"s{i}.png", color)
    rows = [{"file": f"s{i}.png", "emoji": e} for i, e in enumerate(["🐱", "😢", "😀"])]
    (pack / "manifest.jsonl").write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    (pack / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    return tmp_path


def run(workdir: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run `stickerbot ARGS` in-process through the real entry point."""
    argv = [
        "stickerbot",
        "--config",
        str(workdir / "config.toml"),
        "--data-dir",
        str(workdir / "data"),
        *args,
    ]
    old, sys.argv = sys.argv, argv
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    finally:
        sys.argv = old
    out, err = capsys.readouterr()
    return code, out, err


def test_import_search_send_and_recent(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        workdir,
        capsys,
        "import",
        str(workdir / "pack" / "manifest.jsonl"),
        "--pack",
        "mine",
        "--json",
    )
    assert code == 0
    assert json.loads(out) == {
        "pack": "mine",
        "added": 3,
        "unchanged": 0,
        "duplicates": 0,
        "failed": [],
        "files": [
            {"file": "s0.png", "status": "added", "sticker_id": 1},
            {"file": "s1.png", "status": "added", "sticker_id": 2},
            {"file": "s2.png", "status": "added", "sticker_id": 3},
        ],
    }
    code, out, _ = run(workdir, capsys, "search", "chat", "--user", "tg:1", "--json")
    result = json.loads(out)
    assert (
        code == 0 and result["hits"][0]["emoji"] == "🐱" and result["hits"][0]["file"] == "s0.png"
    )
    assert set(result["hits"][0]) >= {"id", "score", "pack", "emoji", "file", "format"}
    sticker = str(result["hits"][0]["id"])
    assert (
        run(workdir, capsys, "send", "--user", "tg:1", "--sticker", sticker, "--query", "chat")[0]
        == 0
    )
    code, out, _ = run(workdir, capsys, "search", "--user", "tg:1", "--json")
    assert [h["id"] for h in json.loads(out)["hits"]] == [int(sticker)]


def test_folder_import_reports_bad_file_and_is_idempotent(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(workdir, capsys, "import", str(workdir / "pack"), "--pack", "folder")
    assert code == 0 and "3 added" in out and "1 failed" in out
    assert "broken.png" in err
    code, out, _ = run(workdir, capsys, "import", str(workdir / "pack"), "--pack", "folder")
    assert "0 added, 3 unchanged" in out


def test_import_json_names_every_file_with_its_sticker_id(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    manifest = str(workdir / "pack" / "manifest.jsonl")
    run(workdir, capsys, "import", manifest, "--pack", "mine")
    code, out, _ = run(
        workdir, capsys, "import", str(workdir / "pack"), "--pack", "again", "--json"
    )
    files = {f["file"]: f for f in json.loads(out)["files"]}
    assert code == 0
    assert files["broken.png"]["status"] == "failed" and files["broken.png"]["sticker_id"] is None
    assert files["broken.png"]["error"]
    # The same images in another pack: the ids they duplicate, so scripts can address them.
    assert {n: (f["status"], f["sticker_id"]) for n, f in files.items() if n != "broken.png"} == {
        "s0.png": ("duplicate", 1),
        "s1.png": ("duplicate", 2),
        "s2.png": ("duplicate", 3),
    }
    code, out, _ = run(workdir, capsys, "import", manifest, "--pack", "mine", "--json")
    assert [(f["status"], f["sticker_id"]) for f in json.loads(out)["files"]] == [
        ("unchanged", 1),
        ("unchanged", 2),
        ("unchanged", 3),
    ]


def test_suggest_completes_what_the_user_types(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(workdir, capsys, "import", str(workdir / "pack" / "manifest.jsonl"), "--pack", "mine")
    code, out, _ = run(workdir, capsys, "suggest", "cry", "--user", "tg:1", "--json")
    found = json.loads(out)
    assert code == 0 and found[0] == {
        "text": "cry",
        "stickers": 1,
        "chosen": 0,
        "own": False,
    }
    assert "crying face" in [s["text"] for s in found], "completions follow the exact word"
    code, out, _ = run(workdir, capsys, "suggest", "chat", "--user", "tg:1", "-n", "2")
    assert code == 0 and out.splitlines()[0].split()[0] == "chat"


def test_batch_search_and_send_keep_going_after_bad_rows(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(workdir, capsys, "import", str(workdir / "pack" / "manifest.jsonl"), "--pack", "mine")
    queries = workdir / "q.jsonl"
    lines = ['{"user": "a", "query": "cry"}', "not json", '{"query": "x"}']
    lines.append('{"user": "b", "query": "😀", "limit": 1}')
    queries.write_text("\n".join(lines) + "\n")
    code, out, _ = run(workdir, capsys, "search", "--batch", str(queries))
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and [r["line"] for r in rows] == [1, 2, 3, 4]
    assert rows[0]["hits"][0]["emoji"] == "😢"
    assert "error" in rows[1] and rows[2]["error"] == "missing field 'user'"
    assert len(rows[3]["hits"]) == 1 and rows[3]["hits"][0]["emoji"] == "😀"
    sends = workdir / "s.jsonl"
    sticker = rows[0]["hits"][0]["id"]
    good = json.dumps({"user": "a", "sticker": sticker, "query": "cry"})
    sends.write_text(good + '\n{"user": "a", "sticker": 999999}\n')
    code, out, _ = run(workdir, capsys, "send", "--batch", str(sends))
    results = [json.loads(line) for line in out.splitlines()]
    assert results[0]["ok"] is True and "No sticker with id 999999" in results[1]["error"]


def test_packs_remove_and_forget(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(
        workdir,
        capsys,
        "import",
        str(workdir / "pack" / "manifest.jsonl"),
        "--pack",
        "mine",
        "--title",
        "Mine",
    )
    code, out, _ = run(workdir, capsys, "packs", "--json")
    assert [(p["name"], p["title"], p["stickers"]) for p in json.loads(out)] == [
        ("mine", "Mine", 3)
    ]
    code, _, err = run(workdir, capsys, "remove-pack", "nope")
    assert code == 2 and err.strip() == "error: No pack named 'nope' in the library."
    code, out, _ = run(workdir, capsys, "remove-pack", "mine")
    assert code == 0 and "3 stickers" in out
    assert not list((workdir / "data" / "media").rglob("*.png"))
    code, out, _ = run(workdir, capsys, "forget", "--user", "tg:1")
    assert code == 0 and "0 interactions" in out


def test_malformed_commands_get_clear_errors(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(workdir, capsys, "search", "happy")
    assert code == 2 and "--user is required" in err
    code, _, err = run(workdir, capsys, "import", str(workdir / "missing"), "--pack", "x")
    assert code == 2 and "does not exist" in err and "Traceback" not in err
    code, _, err = run(workdir, capsys, "search", "x" * 300, "--user", "u")
    assert code == 2 and "query too long" in err


@pytest.mark.slow  # starts processes
def test_second_writer_is_refused_with_a_clear_message(workdir: Path) -> None:
    data = workdir / "data"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from engine.lock import WriterLock
            lock = WriterLock(Path({str(data)!r})); lock.acquire()
            print("held", flush=True); time.sleep(60)
        """),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        args = ["--config", str(workdir / "config.toml"), "--data-dir", str(data)]
        done = subprocess.run(
            [sys.executable, "-m", "bot", *args, "import", str(workdir / "pack"), "--pack", "x"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 2
    assert f"in use by pid {holder.pid}" in done.stderr and "server mode" in done.stderr
    assert "Traceback" not in done.stderr


def test_jobs_run_once_in_the_foreground(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(workdir, capsys, "import", str(workdir / "pack" / "manifest.jsonl"), "--pack", "mine")
    code, out, _ = run(workdir, capsys, "jobs", "run", "utility", "history_queries")
    assert code == 0 and out.splitlines() == [
        "utility: 0 stickers with utility",
        "history_queries: 0 stickers with learned queries",
    ]
    code, _, err = run(workdir, capsys, "jobs", "run", "nope")
    assert code == 2 and "unknown job(s) nope" in err


@pytest.mark.slow  # loads the OCR model
def test_annotate_makes_printed_text_searchable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Real OCR, NSFW and style models on a sticker without emoji: its text becomes findable."""
    from PIL import ImageDraw, ImageFont

    (tmp_path / "config.toml").write_text(LEXICAL_ONLY, encoding="utf-8")
    pack = tmp_path / "blind"
    pack.mkdir()
    sign = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf", 48)
    ImageDraw.Draw(sign).rounded_rectangle((8, 60, 248, 196), 24, fill=(255, 255, 255, 255))
    ImageDraw.Draw(sign).text((36, 100), "HELLO", font=font, fill=(200, 0, 0, 255))
    # A hash-like name: file names are searchable too, and this one must say nothing.
    sign.save(pack / "5e1f0c4a9b.png")
    _png(pack / "plain.png", (10, 200, 10, 255))
    assert run(tmp_path, capsys, "import", str(pack), "--pack", "blind")[0] == 0
    assert (
        json.loads(run(tmp_path, capsys, "search", "hello", "-u", "u", "--json")[1])["hits"] == []
    )
    code, out, _ = run(tmp_path, capsys, "annotate", "--stages", "ocr,nsfw,style")
    assert code == 0 and "annotated 2 stickers, 0 left" in out
    hits = json.loads(run(tmp_path, capsys, "search", "hello", "-u", "u", "--json")[1])["hits"]
    assert [h["file"] for h in hits] == ["5e1f0c4a9b.png"]
    code, out, _ = run(tmp_path, capsys, "annotate")
    assert "annotated 0 stickers" in out  # nothing is redone
    code, _, err = run(tmp_path, capsys, "annotate", "--stages", "ocr,magic")
    assert code == 2 and "unknown stage(s) magic" in err
