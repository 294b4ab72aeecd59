"""The `stickerbot` command line."""

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from bot.config import AppSettings, load_settings
from bot.console import bars, emit, progress
from engine import SearchQuery, SearchService, StickerbotError, UserFacingError

log = logging.getLogger("stickerbot")


class Context:
    """What every subcommand needs: settings, and the service opened on demand."""

    def __init__(self, settings: AppSettings) -> None:
        self.settings = settings

    @contextmanager
    def service(self) -> Iterator[SearchService]:
        """Open the library for the duration of a command."""
        svc = SearchService.open(self.settings.engine())
        try:
            yield svc
        finally:
            svc.close()


@click.group()
@click.option(
    "--config", "config_file", type=click.Path(path_type=Path), help="config.toml to read."
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="Library directory (or STICKERBOT_DATA_DIR).",
)
@click.option("-v", "--verbose", is_flag=True, help="Log debug messages.")
@click.pass_context
def cli(ctx: click.Context, config_file: Path | None, data_dir: Path | None, verbose: bool) -> None:
    """Personalized sticker search for Telegram and Discord."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("bm25s").setLevel(logging.WARNING)
    overrides: dict[str, Any] = {"storage__data_dir": str(data_dir)} if data_dir else {}
    ctx.obj = Context(load_settings(config_file, None, **overrides))


@cli.command("import")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--pack", required=True, help="Pack name (created if new).")
@click.option("--title", default="", help="Pack title shown to users.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def import_cmd(obj: Context, path: Path, pack: str, title: str, as_json: bool) -> None:
    """Import a folder, zip archive, manifest JSONL or image as a pack."""
    with obj.service() as svc, bars() as shown:
        report = svc.library.import_path(
            path,
            pack,
            title=title,
            added_by="cli",
            progress=shown.stage("importing"),
            index_progress=shown.stage("indexing"),
        )
    if as_json:
        emit(report.to_json())
        return
    click.echo(
        f"pack {report.pack}: {report.added} added, {report.unchanged} unchanged, "
        f"{report.duplicates} duplicates of other packs, {len(report.failed)} failed"
    )
    for name, error in report.failed:
        click.echo(f"  skipped {name}: {error}", err=True)


def _search_row(svc: SearchService, row: dict[str, Any]) -> dict[str, Any]:
    query = SearchQuery(
        user=str(row["user"]),
        text=str(row.get("query", "")),
        limit=int(row.get("limit", 10)),
        offset=int(row.get("offset", 0)),
        include_nsfw=bool(row.get("nsfw", False)),
    )
    page = svc.search(query)
    return {
        "user": query.user,
        "query": query.text,
        "hits": [h.to_json() for h in page.hits],
        "next_offset": page.next_offset,
        "total": page.total,
    }


def _batch(path: Path, handle: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """JSONL in, JSONL out; a bad row gets an error row and the rest goes on."""
    stream = sys.stdin if str(path) == "-" else path.open(encoding="utf-8")
    with stream:
        for lineno, line in enumerate(stream, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ValueError("each line must be a JSON object")
                emit({"line": lineno, **handle(row)})
            except (UserFacingError, ValueError, KeyError, TypeError) as exc:
                emit({"line": lineno, "error": _describe(exc)})


def _describe(exc: Exception) -> str:
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return str(exc)


@cli.command()
@click.argument("query", required=False, default="")
@click.option("--user", "-u", help="User key, e.g. tg:123.")
@click.option("--limit", "-n", default=10, show_default=True, help="Hits per page (1-50).")
@click.option("--offset", default=0, help="Skip this many hits.")
@click.option("--nsfw", is_flag=True, help="Include NSFW stickers.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option(
    "--batch",
    type=click.Path(path_type=Path),
    help="JSONL of {user, query, limit?, offset?}; - for stdin.",
)
@click.pass_obj
def search(
    obj: Context,
    query: str,
    user: str | None,
    limit: int,
    offset: int,
    nsfw: bool,
    as_json: bool,
    batch: Path | None,
) -> None:
    """Search stickers for a user."""
    with obj.service() as svc:
        if batch is not None:
            _batch(batch, lambda row: _search_row(svc, row))
            return
        if not user:
            raise click.UsageError("--user is required (or use --batch)")
        result = _search_row(
            svc, {"user": user, "query": query, "limit": limit, "offset": offset, "nsfw": nsfw}
        )
    if as_json:
        emit(result)
        return
    for rank, hit in enumerate(result["hits"], 1 + offset):
        where = f"{hit['pack']}/{hit['file']}"
        click.echo(
            f"{rank:3d}. #{hit['id']:<6d} {hit['score']:.3f} {hit['emoji'] or '-':3s} {where}"
        )
    if not result["hits"]:
        click.echo("no stickers found")


@cli.command()
@click.argument("text", required=False, default="")
@click.option("--user", "-u", required=True, help="User key, e.g. tg:123.")
@click.option("--limit", "-n", default=10, show_default=True, help="Completions (1-50).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def suggest(obj: Context, text: str, user: str, limit: int, as_json: bool) -> None:
    """Complete a query as the user types it (what autocomplete shows)."""
    with obj.service() as svc:
        found = svc.suggest(user, text, limit)
    if as_json:
        emit([s.to_json() for s in found])
        return
    for s in found:
        mark = "*" if s.own else " "
        click.echo(f"{mark} {s.text:40s} {s.stickers:6d} stickers {s.chosen:5d} picks")
    if not found:
        click.echo("no completions")


def _send_row(svc: SearchService, row: dict[str, Any]) -> dict[str, Any]:
    kind = row.get("kind", "chosen")
    interaction = svc.users.record(
        str(row["user"]), int(row["sticker"]), kind, str(row.get("query", "")), platform="cli"
    )
    return {"ok": True, "interaction": interaction}


@cli.command()
@click.option("--user", "-u", help="User key.")
@click.option("--sticker", type=int, help="Sticker id from search results.")
@click.option("--query", "-q", default="", help="The query the sticker was chosen for.")
@click.option("--kind", type=click.Choice(["chosen", "sent"]), default="chosen", show_default=True)
@click.option(
    "--batch",
    type=click.Path(path_type=Path),
    help="JSONL of {user, sticker, query?, kind?}; - for stdin.",
)
@click.pass_obj
def send(
    obj: Context, user: str | None, sticker: int | None, query: str, kind: str, batch: Path | None
) -> None:
    """Record that a user picked a sticker (the signal bots record on every send)."""
    with obj.service() as svc:
        if batch is not None:
            _batch(batch, lambda row: _send_row(svc, row))
            return
        if not user or sticker is None:
            raise click.UsageError("--user and --sticker are required (or use --batch)")
        _send_row(svc, {"user": user, "sticker": sticker, "query": query, "kind": kind})
    click.echo(f"recorded: {user} {kind} sticker {sticker}")


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def packs(obj: Context, as_json: bool) -> None:
    """List the packs in the library."""
    with obj.service() as svc:
        infos = svc.library.packs()
    if as_json:
        emit([p.to_json() for p in infos])
        return
    for p in infos:
        click.echo(f"{p.source:8s} {p.name:30s} {p.stickers:6d} stickers  {p.title}")
    if not infos:
        click.echo("the library is empty: add stickers with `stickerbot import`")


@cli.command("remove-pack")
@click.argument("name")
@click.option("--source", type=click.Choice(["local", "telegram", "discord"]))
@click.pass_obj
def remove_pack(obj: Context, name: str, source: str | None) -> None:
    """Remove a pack and its stickers."""
    with obj.service() as svc:
        n = svc.library.remove_pack(name, source)
    click.echo(f"removed pack {name} ({n} stickers)")


@cli.command()
@click.option("--user", "-u", required=True, help="User key.")
@click.pass_obj
def forget(obj: Context, user: str) -> None:
    """Delete a user's history and profile."""
    with obj.service() as svc:
        report = svc.users.forget(user)
    profile = "deleted" if report.profile else "none"
    click.echo(f"forgot {user}: {report.interactions} interactions, profile {profile}")


@cli.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    default=Path("stickerbot-demo.png"),
    show_default=True,
    help="Where to write the contact sheet.",
)
@click.option(
    "--demo-dir",
    type=click.Path(path_type=Path),
    help="Library for the demo (default: a new temp dir).",
)
@click.pass_obj
def demo(obj: Context, out: Path, demo_dir: Path | None) -> None:
    """Import the bundled sample pack, search as two users, draw a contact sheet. Offline."""
    from bot.demo import run_demo

    run_demo(obj.settings.engine().in_dir(demo_dir, "stickerbot-demo-"), out)


@cli.command()
@click.option("--limit", type=int, help="Annotate at most this many stickers.")
@click.option("--stages", help="Comma-separated subset of: ocr, vlm, nsfw, style.")
@click.pass_obj
def annotate(obj: Context, limit: int | None, stages: str | None) -> None:
    """Describe stickers (OCR, VLM, NSFW, style) in the foreground; resumable."""
    only = [s.strip() for s in stages.split(",") if s.strip()] if stages else None
    unknown = sorted(set(only or ()) - {"ocr", "vlm", "nsfw", "style"})
    if unknown:
        raise click.UsageError(
            f"unknown stage(s) {', '.join(unknown)}; stages: ocr, vlm, nsfw, style"
        )
    with obj.service() as svc, progress("annotating") as advance:
        report = svc.understanding.annotate(limit, advance, only)
    click.echo(f"annotated {report.annotated} stickers, {report.remaining} left")
    for sticker, error in report.failed.items():
        click.echo(f"  sticker {sticker}: {error}", err=True)


@cli.group()
def jobs() -> None:
    """Background jobs, run once in the foreground."""


@jobs.command("run")
@click.argument("names", nargs=-1)
@click.pass_obj
def jobs_run(obj: Context, names: tuple[str, ...]) -> None:
    """Run the named jobs once, each to completion with a progress bar (all when none is named)."""
    import asyncio

    from jobs.tasks import JOBS, run_jobs

    unknown = sorted(set(names) - set(JOBS))
    if unknown:
        raise click.UsageError(f"unknown job(s) {', '.join(unknown)}; jobs: {', '.join(JOBS)}")
    with obj.service() as svc, bars() as shown:
        outcomes = asyncio.run(run_jobs(svc, list(names), progress=shown.stage))
    for outcome in outcomes:
        click.echo(f"{outcome.name}: {outcome.summary}")


@cli.command("run")
@click.pass_obj
def run_cmd(obj: Context) -> None:
    """Run the chat bots and the background jobs until SIGINT or SIGTERM."""
    from bot.app import run

    run(obj.settings)


@cli.command()
@click.pass_obj
def worker(obj: Context) -> None:
    """Run only the background jobs until SIGINT or SIGTERM.

    An embedded library takes one writer process: beside a running `stickerbot run`, a worker
    needs Chroma in server mode (vectors.mode = "server") and [jobs] enabled = false in the bot.
    """
    from bot.app import run

    run(obj.settings, with_adapters=False)


@cli.command("eval")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(path_type=Path, file_okay=False),
    required=True,
    help="A directory in the stickers-dev format.",
)
@click.option("--split", default="dev", show_default=True, help="Reads queries-<split>.jsonl.")
@click.option(
    "--tracks",
    default="lexicon,personalization,blind,crowd",
    show_default=True,
    help="Comma-separated subset of the tracks.",
)
@click.option(
    "--work-dir", type=click.Path(path_type=Path), help="Libraries for the run (default: temp)."
)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), help="Also write results as JSON."
)
@click.option("--seed", default=0, show_default=True, help="Seed of the simulated users.")
@click.pass_obj
def eval_cmd(
    obj: Context,
    data_dir: Path,
    split: str,
    tracks: str,
    work_dir: Path | None,
    json_out: Path | None,
    seed: int,
) -> None:
    """Evaluate search on labelled data (in libraries of its own; yours is not touched)."""
    from bot.evalrun import TRACKS, run_eval

    names = [t.strip() for t in tracks.split(",") if t.strip()]
    unknown = sorted(set(names) - set(TRACKS))
    if unknown:
        raise click.UsageError(
            f"unknown track(s) {', '.join(unknown)}; tracks: {', '.join(TRACKS)}"
        )
    payload = run_eval(obj.settings.engine(), data_dir, split, names, work_dir, seed)
    if json_out:
        json_out.write_text(json.dumps(payload, ensure_ascii=False, indent=2), encoding="utf-8")


def main() -> None:
    """Entry point: user-facing errors print one line; anything else logs a traceback."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except StickerbotError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except Exception:
        log.exception("internal error")
        click.echo("error: internal error (see the log above)", err=True)
        sys.exit(1)
