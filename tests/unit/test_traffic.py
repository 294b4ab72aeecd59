"""Search traffic: writers that hold the GIL find the pauses between searches."""

import threading
import time

from engine.traffic import RECENT_S, SearchTraffic


def test_busy_while_a_search_runs_and_for_a_moment_after() -> None:
    traffic = SearchTraffic()
    assert not traffic.busy()
    with traffic.serving():
        assert traffic.busy()
    assert traffic.busy()  # searches come in streams: the next one is likely near
    traffic._last_end -= RECENT_S  # as if the last search ended a second ago
    assert not traffic.busy()


def test_a_pause_is_found_when_the_running_search_ends() -> None:
    traffic = SearchTraffic()
    started, ended = threading.Event(), []

    def search() -> None:
        with traffic.serving():
            started.set()
            time.sleep(0.05)
            ended.append(time.monotonic())

    worker = threading.Thread(target=search)
    worker.start()
    started.wait()
    assert traffic.pause(patience_s=5.0)
    assert time.monotonic() >= ended[0]  # not before the search ended
    worker.join()


def test_a_pause_gives_up_after_its_patience_so_writes_never_starve() -> None:
    traffic = SearchTraffic()
    with traffic.serving():
        start = time.monotonic()
        assert not traffic.pause(patience_s=0.02)
        assert time.monotonic() - start >= 0.02
    assert traffic.pause(patience_s=0.0)
