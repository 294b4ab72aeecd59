"""Progress bars of the CLI: one stage after another, closed however the block ends."""

import pytest

from bot.console import Bars, bars, progress


def test_stages_show_one_after_another(capsys: pytest.CaptureFixture[str]) -> None:
    with bars() as shown:
        importing, indexing = shown.stage("importing"), shown.stage("indexing")
        importing(2, 4)
        importing(2, 4)
        first = shown._open
        indexing(3, 3)
        assert first is not None and first.disable, "the first bar closed when the second began"
    err = capsys.readouterr().err
    assert "importing: 100%" in err and "4/4" in err and "indexing: 100%" in err and "3/3" in err


def test_a_stage_that_never_steps_shows_no_bar(capsys: pytest.CaptureFixture[str]) -> None:
    with bars() as shown:
        shown.stage("indexing")
    assert "indexing" not in capsys.readouterr().err


def test_the_bar_closes_when_the_block_fails() -> None:
    opened: list[Bars] = []
    with pytest.raises(RuntimeError), bars() as shown:
        opened.append(shown)
        shown.stage("annotating")(1, 10)
        raise RuntimeError("boom")
    assert opened[0]._open is None


def test_progress_is_a_single_stage(capsys: pytest.CaptureFixture[str]) -> None:
    with progress("annotating") as advance:
        advance(5, 5)
    assert "annotating: 100%" in capsys.readouterr().err
