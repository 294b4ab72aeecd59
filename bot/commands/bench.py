"""`stickerbot bench`: search latency, memory and quality at scale, against a pg_trgm peer."""

import json
import signal
from pathlib import Path
from types import FrameType

import click

from bot.context import Context
from engine import BenchOptions, format_bench, run_benchmark


def _sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s.strip().replace("_", "")) for s in text.split(",") if s.strip())
    except ValueError:
        raise click.BadParameter("a comma-separated list of sticker counts") from None
    if not sizes or min(sizes) < 100:
        raise click.BadParameter("each size must be at least 100 stickers")
    return sizes


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt  # unwinds like Ctrl-C: the throwaway PostgreSQL cluster is removed


@click.command()
@click.option("--sizes", default="10000,100000", show_default=True, help="Library sizes to build.")
@click.option("--work-dir", type=click.Path(path_type=Path), help="Libraries (default: temp).")
@click.option("--peer-url", help="PostgreSQL URL for the peer (default: a throwaway cluster).")
@click.option("--no-peer", is_flag=True, help="Skip the pg_trgm peer.")
@click.option("--no-server-restart", is_flag=True, help="Skip the restart against a Chroma server.")
@click.option("--queries", default=300, show_default=True, help="Novel queries per stream.")
@click.option("--typing", default=40, show_default=True, help="Queries typed prefix by prefix.")
@click.option("--import-stickers", default=1000, show_default=True, help="Imported beside queries.")
@click.option(
    "--annotate-sample", default=16, show_default=True, help="Stickers per stage (0: skip)."
)
@click.option("--json", "json_out", type=click.Path(path_type=Path), help="Also write JSON here.")
@click.pass_obj
def bench(
    obj: Context,
    sizes: str,
    work_dir: Path | None,
    peer_url: str | None,
    no_peer: bool,
    no_server_restart: bool,
    queries: int,
    typing: int,
    import_stickers: int,
    annotate_sample: int,
    json_out: Path | None,
) -> None:
    """Build synthetic libraries and measure search at each size (your library is not touched)."""
    signal.signal(signal.SIGTERM, _interrupt)
    opts = BenchOptions(
        sizes=_sizes(sizes),
        work_dir=work_dir,
        peer_url=peer_url,
        peer=not no_peer,
        server_restart=not no_server_restart,
        novel=queries,
        typing=typing,
        import_stickers=import_stickers,
        annotate_sample=annotate_sample,
    )
    results = run_benchmark(
        obj.settings.engine(), opts, say=lambda line: click.echo(line, err=True)
    )
    click.echo(format_bench(results))
    if json_out:
        json_out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
