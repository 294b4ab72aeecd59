"""The real python-telegram-bot Application against a local fake of the Bot API server."""

import asyncio
import gzip
import io
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import av
import numpy as np
import pytest
from PIL import Image
from telegram import Update
from telegram.ext import AIORateLimiter

from adapters.base import StatusBoard
from adapters.telegram import TelegramRuntime, build_application, upload_pending
from adapters.telegram.admin import REFUSAL
from adapters.telegram.application import GENERIC_ERROR, TgApp, file_url
from adapters.telegram.packs import parse_set_name
from adapters.telegram.settings import TelegramSettings
from engine.errors import ConfigError, InvalidInputError, LibraryLockedError, ModelError
from engine.ingest import ImportItem
from engine.redaction import Redactor
from engine.service import SearchService
from engine.types import SearchQuery
from tests.fakes.telegram_api import ApiCall, ApiFailure, FakeBotApi, Updates

ADMIN, ALICE, BOB = 1, 42, 43
GROUP = -100500


# --- media the tests build -------------------------------------------------------------------


def png(seed: int, size: int = 24) -> bytes:
    """A solid PNG whose colour (and so content hash) depends on `seed`."""
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (seed % 256, (seed * 7) % 256, 99, 255)).save(out, "PNG")
    return out.getvalue()


def webp(color: tuple[int, int, int, int]) -> bytes:
    """A 512 px static WEBP sticker."""
    out = io.BytesIO()
    Image.new("RGBA", (512, 512), color).save(out, "WEBP", lossless=True)
    return out.getvalue()


def tgs() -> bytes:
    """An animated sticker: gzipped Lottie JSON of one red rectangle."""
    static: Callable[[object], dict[str, object]] = lambda k: {"a": 0, "k": k}  # noqa: E731
    shapes = [
        {"ty": "rc", "d": 1, "s": static([256, 256]), "p": static([0, 0])},
        {"ty": "fl", "c": static([1, 0, 0, 1]), "o": static(100), "r": 1},
        {"ty": "tr", "p": static([0, 0]), "a": static([0, 0]), "s": static([100, 100])},
    ]
    transform = {"o": static(100), "p": static([256, 256, 0]), "a": static([0, 0])}
    layer = {"ty": 4, "ind": 1, "ip": 0, "op": 30, "st": 0, "ks": transform}
    layer["shapes"] = [{"ty": "gr", "it": shapes}]
    doc = {"v": "5.5.2", "fr": 30, "ip": 0, "op": 30, "w": 512, "h": 512, "layers": [layer]}
    return gzip.compress(json.dumps(doc).encode())


def webm() -> bytes:
    """A video sticker: three VP9 frames with alpha."""
    out = io.BytesIO()
    with av.open(out, "w", format="webm") as container:
        stream = container.add_stream("libvpx-vp9", rate=10)
        stream.width, stream.height = 64, 48
        stream.pix_fmt = "yuva420p"
        for shade in (50, 150, 250):
            pixels = np.zeros((48, 64, 4), np.uint8)
            pixels[:, :32] = (shade, 0, 0, 255)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgba")))
        container.mux(stream.encode(None))
    return out.getvalue()


# --- fixtures --------------------------------------------------------------------------------


class Jobs:
    """A status source as the runtime passes one (the app's board: library, adapters, jobs)."""

    def status_lines(self) -> list[str]:
        return ["annotate: last run 12:00, ok"]


class Bot:
    """A built application, the fake server it talks to and the library behind it."""

    def __init__(self, app: TgApp, api: FakeBotApi, svc: SearchService, settings: TelegramSettings):
        self.app, self.api, self.svc, self.settings = app, api, svc, settings
        self.updates = Updates()

    async def send(self, update: dict[str, Any]) -> None:
        """Deliver one update as if getUpdates had returned it."""
        await self.app.process_update(Update.de_json(update, self.app.bot))

    async def command(self, from_id: int, text: str) -> list[str]:
        """Send a command in the sender's private chat; return the chat's texts after it."""
        await self.send(self.updates.command(from_id, text))
        return self.api.texts(from_id)

    async def inline(self, from_id: int, query: str, offset: str = "") -> ApiCall:
        """Send an inline query and return the bot's answerInlineQuery call."""
        await self.send(self.updates.inline_query(from_id, query, offset))
        return self.api.calls_to("answerInlineQuery")[-1]


def result_ids(call: ApiCall) -> list[int]:
    """Sticker ids of an inline answer, checking Telegram's limits on the way."""
    results = call.json("results")
    assert len(results) <= 50
    assert all(r["type"] == "sticker" and r["sticker_file_id"] for r in results)
    assert all(len(r["id"].encode()) <= 64 for r in results)
    assert len(call.params.get("next_offset", "").encode()) <= 64
    return [int(r["id"]) for r in results]


def interactions(svc: SearchService, user: str) -> list[tuple[int, str, str, str]]:
    """(sticker, kind, query, chat type) of a user's interactions."""
    return [(r.sticker_id, r.kind, r.query, r.chat_type) for r in svc.users.interactions(user)]


def import_with_handles(svc: SearchService, pack: str, emoji: str, n: int, seed: int) -> list[int]:
    """Import n stickers that already carry Telegram file ids."""
    items = [
        ImportItem(
            f"{pack}{i}.png",
            lambda i=i: png(seed + i),
            emoji=emoji,
            telegram_file_id=f"{pack}-file-{i}",
            telegram_file_unique_id=f"{pack}-u{i}",
        )
        for i in range(n)
    ]
    return svc.library.import_items(items, pack).sticker_ids


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi()
    await fake.start()
    yield fake
    await fake.stop()


BotFactory = Callable[..., Any]


@pytest.fixture
def make_bot(api: FakeBotApi, svc: SearchService) -> BotFactory:
    """make_bot(**telegram settings) -> an async context manager yielding a started Bot."""

    @asynccontextmanager
    async def make(**telegram: Any) -> AsyncIterator[Bot]:
        settings = TelegramSettings(base_url=api.base_url, admins=(ADMIN,), **telegram)
        board = StatusBoard(svc)  # composed as bot.app does: library, adapters, then jobs
        app = build_application(svc, settings, api.token, status=board)
        board.add(TelegramRuntime(app, svc, settings, Redactor([])))
        board.add(Jobs())
        await app.initialize()
        try:
            yield Bot(app, api, svc, settings)
        finally:
            await app.shutdown()

    return make


@pytest.fixture
async def bot(make_bot: BotFactory) -> AsyncIterator[Bot]:
    async with make_bot() as started:
        yield started


# --- building --------------------------------------------------------------------------------


def test_file_url_sits_beside_the_api_url() -> None:
    assert file_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_url("http://localhost:8081/bot") == "http://localhost:8081/file/bot"
    assert file_url("http://h/bot{token}/x") == "http://h/file/bot{token}/x"


def test_set_names_and_links_parse() -> None:
    assert parse_set_name("Animals") == "Animals"
    assert parse_set_name(" https://t.me/addstickers/Cats_by_x ") == "Cats_by_x"
    assert parse_set_name("t.me/addstickers/Dogs/") == "Dogs"
    assert parse_set_name("tg://addstickers?set=Owls") == "Owls"
    for bad in ("", "two words", "https://example.com/addstickers/X", "a" * 65):
        with pytest.raises(InvalidInputError):
            parse_set_name(bad)


async def test_application_talks_to_the_configured_server(bot: Bot) -> None:
    assert bot.api.calls_to("getMe"), "initialize() asks the fake who the bot is"
    assert bot.app.bot.base_file_url == f"http://127.0.0.1:{bot.api.port}/file/bot{bot.api.token}"
    assert isinstance(bot.app.bot.rate_limiter, AIORateLimiter)


async def test_polling_delivers_updates_from_get_updates(bot: Bot) -> None:
    assert bot.app.updater is not None
    await bot.app.start()
    await bot.app.updater.start_polling(poll_interval=0, timeout=1)
    try:
        bot.api.push_update(bot.updates.command(ALICE, "/help"))
        for _ in range(200):
            if bot.api.texts(ALICE):
                break
            await asyncio.sleep(0.02)
    finally:
        await bot.app.updater.stop()
        await bot.app.stop()
    assert "happy" in bot.api.texts(ALICE)[0]


# --- inline search ---------------------------------------------------------------------------


async def test_inline_answers_page_through_the_ranking(bot: Bot) -> None:
    cats = import_with_handles(bot.svc, "cats", "🐱", 60, seed=0)
    first = await bot.inline(ALICE, "cat")
    page1 = result_ids(first)
    assert len(page1) == 50
    assert first.params["is_personal"] == "true"
    assert int(first.params["cache_time"]) <= 30
    assert first.params["next_offset"] == "50"
    second = await bot.inline(ALICE, "cat", offset="50")
    page2 = result_ids(second)
    assert sorted(page1 + page2) == sorted(cats), "two pages hold every cat exactly once"
    assert second.params.get("next_offset", "") == ""


async def test_inline_results_carry_the_stored_file_ids(bot: Bot) -> None:
    [dog] = import_with_handles(bot.svc, "dogs", "🐶", 1, seed=70)
    results = (await bot.inline(ALICE, "dog")).json("results")
    assert results == [{"type": "sticker", "id": str(dog), "sticker_file_id": "dogs-file-0"}]


async def test_no_match_answers_empty_with_a_help_button(bot: Bot) -> None:
    import_with_handles(bot.svc, "dogs", "🐶", 1, seed=70)
    call = await bot.inline(ALICE, "spaceship")
    assert result_ids(call) == []
    assert call.json("button")["start_parameter"] == "help"


async def test_inline_refusals_show_as_a_button(bot: Bot) -> None:
    call = await bot.inline(ALICE, "x" * 300)  # Telegram allows 256; a forged query is refused
    assert call.json("results") == []
    assert call.json("button")["text"] == "query too long (at most 256 characters)"


async def test_chosen_result_is_recorded_and_leads_the_empty_query(bot: Bot) -> None:
    cats = import_with_handles(bot.svc, "cats", "🐱", 5, seed=0)
    assert result_ids(await bot.inline(ALICE, "")) == [], "no history yet"
    await bot.send(bot.updates.chosen(ALICE, str(cats[3]), "cat"))
    assert interactions(bot.svc, f"tg:{ALICE}") == [(cats[3], "chosen", "cat", "")]
    assert result_ids(await bot.inline(ALICE, ""))[0] == cats[3]
    assert result_ids(await bot.inline(BOB, "")) == [], "one user's recents are not another's"


async def test_nsfw_stickers_only_for_users_who_opt_in(bot: Bot) -> None:
    safe = import_with_handles(bot.svc, "cats", "🐱", 2, seed=0)
    spicy = import_with_handles(bot.svc, "spicy", "🐱", 2, seed=100)
    bot.svc.library.set_pack_nsfw("spicy", True)
    assert sorted(result_ids(await bot.inline(ALICE, "cat"))) == sorted(safe)
    texts = await bot.command(ALICE, "/nsfw on")
    assert texts[-1] == "NSFW stickers are shown in your results."
    assert bot.svc.users.nsfw_opt_in(f"tg:{ALICE}")
    assert sorted(result_ids(await bot.inline(ALICE, "cat"))) == sorted(safe + spicy)
    assert sorted(result_ids(await bot.inline(BOB, "cat"))) == sorted(safe)
    assert (await bot.command(ALICE, "/nsfw"))[-1].endswith("shown in your results.")
    await bot.command(ALICE, "/nsfw off")
    assert sorted(result_ids(await bot.inline(ALICE, "cat"))) == sorted(safe)
    assert (await bot.command(ALICE, "/nsfw maybe"))[-1] == "Use /nsfw on or /nsfw off."


async def test_nsfw_choice_survives_a_restart(make_bot: BotFactory) -> None:
    async with make_bot() as first:
        await first.command(ALICE, "/nsfw on")
    async with make_bot() as second:
        texts = await second.command(ALICE, "/nsfw")
        assert texts[-1] == "NSFW stickers are shown in your results."


# --- interactions and users ------------------------------------------------------------------


async def test_stickers_sent_in_groups_are_recorded(bot: Bot) -> None:
    [cat] = import_with_handles(bot.svc, "cats", "🐱", 1, seed=0)
    known = {"file_id": "other-bot-id", "file_unique_id": "cats-u0", "type": "regular"}
    known |= {"width": 512, "height": 512, "is_animated": False, "is_video": False}
    unknown = known | {"file_unique_id": "not-in-library"}
    await bot.send(bot.updates.sticker(ALICE, GROUP, known))
    await bot.send(bot.updates.sticker(ALICE, GROUP, unknown))
    via_us = {"id": bot.api.bot_id, "is_bot": True, "first_name": "Sticker Test"}
    await bot.send(bot.updates.sticker(BOB, GROUP, known, via_bot=via_us))
    assert interactions(bot.svc, f"tg:{ALICE}") == [(cat, "sent", "", "supergroup")]
    assert interactions(bot.svc, f"tg:{BOB}") == [], "inline picks already count as chosen"


async def test_forgetme_deletes_history_and_settings(bot: Bot) -> None:
    cats = import_with_handles(bot.svc, "cats", "🐱", 2, seed=0)
    for sticker in cats:
        await bot.send(bot.updates.chosen(ALICE, str(sticker), "cat"))
    await bot.send(bot.updates.chosen(BOB, str(cats[0]), "cat"))
    await bot.command(ALICE, "/nsfw on")
    texts = await bot.command(ALICE, "/forgetme")
    assert "deleted your 2 sticker picks" in texts[-1]
    assert interactions(bot.svc, f"tg:{ALICE}") == []
    assert not bot.svc.users.nsfw_opt_in(f"tg:{ALICE}")
    assert result_ids(await bot.inline(ALICE, "")) == [], "cached recents are gone too"
    assert len(interactions(bot.svc, f"tg:{BOB}")) == 1


async def test_help_explains_inline_use(bot: Bot) -> None:
    texts = await bot.command(ALICE, "/start")
    assert f"@{bot.api.bot_username} happy" in texts[-1]
    assert (await bot.command(ALICE, "/help"))[-1] == texts[-1]


# --- admin commands ----------------------------------------------------------------------------


def serve_animals(api: FakeBotApi) -> None:
    stickers = [
        (webp((255, 0, 0, 255)), "webp", "🐶"),
        (tgs(), "tgs", "🐱"),
        (webm(), "webm", "🦊"),
    ]
    api.add_sticker_set("Animals", "Cute Animals", stickers)


async def test_non_admins_are_refused(bot: Bot) -> None:
    serve_animals(bot.api)
    for command in ("/addpack Animals", "/removepack cats", "/packs", "/status", "/approve"):
        assert (await bot.command(ALICE, command))[-1] == REFUSAL
    assert bot.api.calls_to("getStickerSet") == []
    assert bot.svc.library.packs() == []


async def test_addpack_downloads_and_imports_every_format(bot: Bot) -> None:
    serve_animals(bot.api)
    texts = await bot.command(ADMIN, "/addpack https://t.me/addstickers/Animals")
    assert len(bot.api.calls_to("getFile")) == 3
    [(_, status_id)] = [key for key in bot.api.messages if key[0] == ADMIN]
    edits = [c for c in bot.api.calls_to("editMessageText") if c.params["chat_id"] == str(ADMIN)]
    assert len(edits) >= 2, "progress is shown by editing the one status message"
    assert {c.params["message_id"] for c in edits} == {str(status_id)}
    assert texts == [edits[-1].params["text"]]
    assert texts[0].startswith("Added “Cute Animals” (Animals): 3 new")
    [pack] = bot.svc.library.packs()
    assert (pack.source, pack.name, pack.title, pack.stickers) == (
        "telegram", "Animals", "Cute Animals", 3
    )  # fmt: skip
    assert pack.added_by == f"tg:{ADMIN}"
    served = {
        s["file_unique_id"]: s["file_id"] for s in bot.api.sticker_sets["Animals"]["stickers"]
    }
    stored = {
        (s.format, s.telegram_file_unique_id, s.telegram_file_id)
        for s in bot.svc.library.stickers()
    }
    assert {f for f, _, _ in stored} == {"webp", "tgs", "webm"}
    assert {(u, f) for _, u, f in stored} == set(served.items())
    assert len(result_ids(await bot.inline(ALICE, "fox"))) == 1


async def test_addpack_of_an_unknown_set_says_so(bot: Bot) -> None:
    texts = await bot.command(ADMIN, "/addpack Nope")
    assert texts == ["Telegram has no sticker set named 'Nope'."]
    assert bot.svc.library.packs() == []


async def test_addpack_without_a_name_explains_usage(bot: Bot) -> None:
    texts = await bot.command(ADMIN, "/addpack")
    assert texts[-1].startswith("Give a sticker set name or a t.me/addstickers/NAME link")


async def test_unexpected_errors_reach_the_user_as_a_short_message(
    bot: Bot, caplog: pytest.LogCaptureFixture
) -> None:
    bot.api.failures["getStickerSet"] = ApiFailure(500, "Internal Server Error: secret boom")
    with caplog.at_level(logging.ERROR):
        texts = await bot.command(ADMIN, "/addpack Animals")
    assert texts == ["Importing Animals failed.", GENERIC_ERROR]
    assert not any("boom" in t for t in bot.api.texts(ADMIN))
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


# Absolute paths, environment variables, config files, process ids.
OPERATOR_DETAILS = re.compile(
    r"(?<![\w.])/(?:[a-z]+/)+|STICKERBOT_|TELEGRAM_|\$[A-Z]|\.toml|pid \d"
)


async def test_operator_errors_never_reach_a_chat(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Configuration, lock and model errors name paths and variables: the log gets them."""
    import_with_handles(bot.svc, "cats", "🐱", 2, seed=0)
    failures: list[Exception] = [
        ConfigError("cannot write /srv/stickerbot/media: check STICKERBOT_DATA_DIR"),
        LibraryLockedError("The library in /var/lib/stickerbot is in use by pid 4242"),
        ModelError("model /opt/models/minilm is missing: set STICKERBOT_TEXT_MODEL"),
    ]
    for error in failures:

        def fail(*_args: object, error: Exception = error, **_kwargs: object) -> None:
            raise error

        monkeypatch.setattr(bot.svc.users, "forget", fail)
        monkeypatch.setattr(bot.svc, "search", fail)
        monkeypatch.setattr(bot.svc.library, "packs", fail)
        with caplog.at_level(logging.ERROR):
            for command in ("/forgetme", "/packs"):
                assert (await bot.command(ADMIN, command))[-1] == GENERIC_ERROR
            answer = await bot.inline(ALICE, "cat")
        assert answer.json("button")["text"] == "Search failed, please try again"
        assert str(error) in caplog.text, "the operator finds the details in the log"
    for text in bot.api.texts(ADMIN) + [
        str(c.params) for c in bot.api.calls_to("answerInlineQuery")
    ]:
        assert not OPERATOR_DETAILS.search(text), text


async def test_malformed_commands_get_usage_without_internals(bot: Bot) -> None:
    replies = [
        (await bot.command(ADMIN, command))[-1]
        for command in ("/removepack", "/removepack a b c", "/addpack ../../etc/passwd", "/nsfw ?")
    ]
    assert replies == [
        "Use /removepack NAME (or /removepack NAME SOURCE).",
        "Use /removepack NAME (or /removepack NAME SOURCE).",
        "Give a sticker set name or a t.me/addstickers/NAME link, e.g. /addpack Animals.",
        "Use /nsfw on or /nsfw off.",
    ]
    assert not any(OPERATOR_DETAILS.search(r) for r in replies)


async def test_packs_status_and_removepack(bot: Bot) -> None:
    import_with_handles(bot.svc, "cats", "🐱", 2, seed=0)
    bot.svc.library.import_items([ImportItem("d.png", lambda: png(200))], "local")
    assert (await bot.command(ADMIN, "/packs"))[-1].splitlines() == [
        "cats · cats · 2 stickers · local",
        "local · local · 1 stickers · local",
    ]
    status = (await bot.command(ADMIN, "/status"))[-1].splitlines()
    assert status == [
        "Library: 3 stickers in 2 packs",
        "Annotation backlog: 3 stickers",
        "Pack proposals waiting: 0",
        "Telegram upload backlog: 1 stickers (uploads off: set telegram.storage_chat_id)",
        "annotate: last run 12:00, ok",  # job lines come from the app's scheduler
    ]
    assert (await bot.command(ADMIN, "/removepack zzz"))[
        -1
    ] == "No pack named 'zzz' in the library."
    assert (await bot.command(ADMIN, "/removepack cats"))[
        -1
    ] == "Removed the pack cats (2 stickers)."
    assert [p.name for p in bot.svc.library.packs()] == ["local"]


# --- pack proposals ----------------------------------------------------------------------------


def proposed_sticker(api: FakeBotApi) -> dict[str, Any]:
    return dict(api.sticker_sets["Animals"]["stickers"][0])


async def test_a_proposed_pack_waits_for_an_admin(bot: Bot) -> None:
    serve_animals(bot.api)
    await bot.send(bot.updates.sticker(ALICE, ALICE, proposed_sticker(bot.api)))
    assert bot.api.texts(ALICE) == ["Thanks! I asked the admins to add the pack Animals."]
    assert "/approve Animals" in bot.api.texts(ADMIN)[-1]
    assert [p.name for p in bot.svc.library.proposals()] == ["Animals"]
    assert bot.svc.library.packs() == [], "nothing is imported before approval"
    await bot.send(bot.updates.sticker(ALICE, ALICE, proposed_sticker(bot.api)))
    assert bot.api.texts(ALICE)[-1] == "The pack Animals is already waiting for an admin."
    assert (await bot.command(ADMIN, "/approve"))[-1] == f"/approve Animals  (by tg:{ALICE})"
    texts = await bot.command(ADMIN, "/approve Animals")
    assert texts[-1].startswith("Added “Cute Animals” (Animals): 3 new")
    assert bot.svc.library.proposals() == []
    await bot.send(bot.updates.sticker(BOB, BOB, proposed_sticker(bot.api)))
    assert bot.api.texts(BOB) == ["The pack Animals is already in the library."]


async def test_proposals_import_directly_when_auto_accepted(make_bot: BotFactory) -> None:
    async with make_bot(auto_accept_packs=True) as bot:
        serve_animals(bot.api)
        await bot.send(bot.updates.sticker(ALICE, ALICE, proposed_sticker(bot.api)))
        assert bot.api.texts(ALICE)[-1].startswith("Added “Cute Animals” (Animals): 3 new")
        [pack] = bot.svc.library.packs()
        assert pack.added_by == f"tg:{ALICE}"


# --- uploads -----------------------------------------------------------------------------------


def import_from_folder(svc: SearchService) -> list[int]:
    items = [
        ImportItem("big.png", lambda: png(1, size=600), emoji="🐶"),
        ImportItem("small.png", lambda: png(2, size=100), emoji="🐶"),
        ImportItem("still.webp", lambda: webp((0, 0, 255, 255)), emoji="🐶"),
    ]
    return svc.library.import_items(items, "folder").sticker_ids


async def test_uploads_give_folder_stickers_file_ids(make_bot: BotFactory) -> None:
    async with make_bot(storage_chat_id=GROUP) as bot:
        ids = import_from_folder(bot.svc)
        assert result_ids(await bot.inline(ALICE, "dog")) == [], "nothing can be sent yet"
        assert await upload_pending(bot.app, bot.svc, bot.settings) == 3
        uploads = bot.api.calls_to("sendSticker")
        assert [c.params["chat_id"] for c in uploads] == [str(GROUP)] * 3
        sizes = [Image.open(io.BytesIO(c.files["sticker"])).size for c in uploads]
        formats = [Image.open(io.BytesIO(c.files["sticker"])).format for c in uploads]
        assert formats == ["WEBP"] * 3
        assert sizes == [(512, 512)] * 3, "PNGs are scaled to 512 px; the WEBP was 512 already"
        assert sorted(result_ids(await bot.inline(ALICE, "dog"))) == sorted(ids)
        assert bot.svc.platform("telegram").upload_backlog() == 0
        assert await upload_pending(bot.app.bot, bot.svc, bot.settings) == 0
        status = (await bot.command(ADMIN, "/status"))[-1].splitlines()
        assert "Telegram upload backlog: 0 stickers" in status


async def test_uploads_need_a_storage_chat(bot: Bot) -> None:
    import_from_folder(bot.svc)
    assert await upload_pending(bot.app, bot.svc, bot.settings) == 0
    assert bot.api.calls_to("sendSticker") == []
    assert "uploads off" in (await bot.command(ADMIN, "/status"))[-1]


async def test_refused_uploads_do_not_block_the_queue(make_bot: BotFactory) -> None:
    async with make_bot(storage_chat_id=GROUP, upload_batch=2) as bot:
        import_from_folder(bot.svc)
        bot.api.failures["sendSticker"] = ApiFailure(400, "Bad Request: STICKER_INVALID")
        assert await upload_pending(bot.app, bot.svc, bot.settings) == 0
        refused = len(bot.api.calls_to("sendSticker"))
        del bot.api.failures["sendSticker"]
        assert await upload_pending(bot.app, bot.svc, bot.settings) == 1, "the third sticker"
        assert len(bot.api.calls_to("sendSticker")) == refused + 1
        assert bot.svc.platform("telegram").upload_backlog() == 2
        hits = bot.svc.search(SearchQuery("x", "dog")).hits
        assert sum(1 for h in hits if h.telegram_file_id) == 1
