"""The real discord.py client against a local fake of Discord's HTTP API, gateway and CDN."""

import asyncio
import io
import logging
import zipfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from PIL import Image

from adapters.base import StartupError, StatusBoard
from adapters.discord import Deps, DiscordRuntime, DiscordSettings, StickerBot, TelegramSource
from adapters.discord.admin import OPERATORS_ONLY, REFUSAL
from adapters.discord.anchors import NOTHING_TO_COMPARE
from adapters.discord.common import GENERIC_ERROR
from adapters.discord.results import FOREIGN, SENT, STALE
from engine import LibraryLockedError, Redactor
from engine.annotate import AnnotationPipeline
from engine.ingest import ImportItem
from engine.service import SearchService
from tests.conftest import internals
from tests.contract.test_personalize import ColourStyle
from tests.fakes import discord_api as fake
from tests.fakes.discord_api import FakeDiscord, InteractionRecord
from tests.unit.test_animation import moving_tgs

OPERATOR, ADMIN, ALICE, BOB = 7, 11, 42, 43
MANAGER = fake.MEMBER | fake.MANAGE_EXPRESSIONS
LOADING = 1 << 7


def png(seed: int, size: int = 24) -> bytes:
    """A solid PNG whose colour (and so content hash) depends on `seed`."""
    out = io.BytesIO()
    Image.new("RGBA", (size, size), (seed % 256, (seed * 7) % 256, 99, 255)).save(out, "PNG")
    return out.getvalue()


class Jobs:
    """A status source as the app passes one (the scheduler's lines)."""

    def status_lines(self) -> list[str]:
        return ["annotate: last run 12:00, ok"]


class Bot:
    """A started Discord runtime, the fake it talks to, and the library behind it."""

    def __init__(self, runtime: DiscordRuntime, api: FakeDiscord, svc: SearchService) -> None:
        self.runtime, self.api, self.svc = runtime, api, svc
        self.guild_a, self.guild_b = (int(g) for g in list(api.guilds)[:2])

    async def sticker(self, user_id: int, query: str = "", **where: Any) -> InteractionRecord:
        """`/sticker query` and its finished result message."""
        options = [{"name": "query", "type": 3, "value": query}] if query else []
        where.setdefault("guild_id", self.guild_a)
        record = await self.api.slash("sticker", options, user_id=user_id, **where)
        await record.until(lambda r: r.edits > 0 or bool(r.followups))
        return record

    async def command(
        self, user_id: int, name: str, options: list[dict[str, Any]] | None = None, **where: Any
    ) -> InteractionRecord:
        """Any slash command, finished: a message, or a follow-up after deferring."""
        where.setdefault("guild_id", self.guild_a)
        record = await self.api.slash(name, options, user_id=user_id, **where)
        await record.until(finished)
        return record

    async def press(self, on: InteractionRecord, custom_id: str, **where: Any) -> InteractionRecord:
        """Press a button of a result message; wait until the press is answered."""
        where.setdefault("guild_id", self.guild_a)
        where.setdefault("user_id", ALICE)
        record = await self.api.press(on, custom_id, **where)
        await record.until(lambda r: r.edits > 0 or finished(r))
        return record


def finished(record: InteractionRecord) -> bool:
    """A message answer, or a follow-up after a deferral."""
    return 4 in record.response_types or bool(record.followups)


def answered(record: InteractionRecord) -> list[tuple[int, str, bool]]:
    """(callback type, text, ephemeral) of each response."""
    return [
        (
            r["type"],
            (r.get("data") or {}).get("content", ""),
            bool((r.get("data") or {}).get("flags", 0) & fake.EPHEMERAL),
        )
        for r in record.responses
    ]


def picks(record: InteractionRecord) -> list[str]:
    return [c for c in record.custom_ids() if c.startswith("sb:pick:")]


def page_button(record: InteractionRecord, kind: str, label: str) -> str:
    rows = (record.message or {}).get("components") or []
    for row in rows:
        for button in row["components"]:
            if button["label"] == label and not button.get("disabled"):
                return str(button["custom_id"])
    raise AssertionError(f"no enabled {label!r} button")


def interactions(svc: SearchService, user: str) -> list[tuple[int, str, str, str]]:
    return [(r.sticker_id, r.kind, r.query, r.chat_type) for r in svc.users.interactions(user)]


def import_cats(svc: SearchService, n: int, pack: str = "cats", seed: int = 0) -> list[int]:
    items = [ImportItem(f"{pack}{i}.png", lambda i=i: png(seed + i), emoji="🐱") for i in range(n)]
    return svc.library.import_items(items, pack).sticker_ids


# --- fixtures --------------------------------------------------------------------------------


@pytest.fixture
async def api() -> AsyncIterator[FakeDiscord]:
    server = FakeDiscord()
    await server.start()
    guild_a = server.add_guild("Cat Club")
    server.add_guild("Dog Park")
    server.add_sticker(int(guild_a["id"]), "club cat", "png", png(200, 64), tags="😺")
    server.add_sticker(int(guild_a["id"]), "dancing", "apng", apng(), tags="💃")
    yield server
    await server.stop()


def apng() -> bytes:
    frames = [Image.new("RGBA", (32, 32), (40 * i, 90, 160, 255)) for i in range(3)]
    out = io.BytesIO()
    frames[0].save(out, "PNG", save_all=True, append_images=frames[1:], duration=100)
    return out.getvalue()


BotFactory = Callable[..., Any]


@pytest.fixture
def make_bot(api: FakeDiscord, svc: SearchService) -> BotFactory:
    """make_bot(telegram=None, **discord settings) -> an async context manager of a started Bot."""

    @asynccontextmanager
    async def make(telegram: TelegramSource | None = None, **discord: Any) -> AsyncIterator[Bot]:
        settings = DiscordSettings(
            api_base_url=api.api_base_url, cdn_url=api.cdn_url, admins=(OPERATOR,), **discord
        )
        board = StatusBoard(svc)
        runtime = DiscordRuntime(
            StickerBot(Deps(svc, settings, board, telegram)), settings, api.token, Redactor([])
        )
        board.add(runtime)
        board.add(Jobs())
        try:
            await runtime.start()
            yield Bot(runtime, api, svc)
        finally:
            await runtime.stop()

    return make


@pytest.fixture
async def bot(make_bot: BotFactory) -> AsyncIterator[Bot]:
    async with make_bot() as started:
        yield started


# --- connecting and registering --------------------------------------------------------------


async def test_commands_are_published_in_setup_hook_before_the_gateway(bot: Bot) -> None:
    puts = bot.api.calls_to("PUT", f"/applications/{fake.APP_ID}/commands")
    assert len(puts) == 1
    assert bot.api.calls.index(puts[0]) < bot.api.calls_before_identify, "not in on_ready"
    commands = {c["name"]: c for c in bot.api.commands[None]}
    assert set(commands) == {
        "sticker", "help", "nsfw", "forgetme", "addpack", "packs", "removepack",
        "publishpack", "status", "Find similar stickers",
    }  # fmt: skip
    assert commands["Find similar stickers"]["type"] == 3, "a message context menu"
    [query] = commands["sticker"]["options"]
    assert query["autocomplete"] is True and query["max_length"] == 56
    for admin in ("addpack", "packs", "removepack", "publishpack", "status"):
        assert int(commands[admin]["default_member_permissions"]) == fake.MANAGE_EXPRESSIONS
    assert commands["sticker"].get("default_member_permissions") is None
    assert {o["name"] for o in commands["addpack"]["options"]} == {"server", "telegram", "zip"}


async def test_listed_guilds_get_the_commands_at_once(
    make_bot: BotFactory, api: FakeDiscord
) -> None:
    guild = int(next(iter(api.guilds)))
    async with make_bot(guilds=(guild,)):
        assert {c["name"] for c in api.commands[guild]} >= {"sticker", "Find similar stickers"}
        assert api.commands[None] == [], "no second copy of each command in that guild"


async def test_the_bot_asks_for_no_privileged_intent(
    make_bot: BotFactory, api: FakeDiscord
) -> None:
    privileged = (1 << 1) | (1 << 8) | (1 << 15)  # GUILD_MEMBERS, GUILD_PRESENCES, MESSAGE_CONTENT
    async with make_bot() as bot:
        intents = bot.api.intents()
        assert intents & privileged == 0
        assert intents & fake.GUILD_MESSAGES and intents & fake.DIRECT_MESSAGES
        lines = bot.runtime.status_lines()
        assert lines[0] == f"Discord: connected as {fake.BOT_NAME} to 2 servers"
    async with make_bot(record_sent=False) as quiet:
        assert quiet.api.intents() & (fake.GUILD_MESSAGES | fake.DIRECT_MESSAGES) == 0
        assert "not recorded (discord.record_sent = false)" in quiet.runtime.status_lines()[1]


async def test_a_rejected_token_is_a_clear_startup_error(
    api: FakeDiscord, svc: SearchService
) -> None:
    settings = DiscordSettings(api_base_url=api.api_base_url, cdn_url=api.cdn_url)
    runtime = DiscordRuntime(
        StickerBot(Deps(svc, settings, StatusBoard(svc))), settings, "wrong", Redactor([])
    )
    with pytest.raises(StartupError, match="Discord rejected DISCORD_BOT_TOKEN"):
        await runtime.start()
    await runtime.stop()  # safe after a failed start


# --- autocomplete ----------------------------------------------------------------------------


async def test_autocomplete_answers_in_time_with_at_most_25_choices(bot: Bot) -> None:
    emoji = ["🐱", "🐶", "🦊", "🐸", "🐼", "😀", "😂", "😍", "😢", "😡", "🎉", "❤️", "👍"]
    items = [ImportItem(f"e{i}.png", lambda i=i: png(i), emoji=e) for i, e in enumerate(emoji)]
    bot.svc.library.import_items(items, "mixed")
    cats = bot.svc.library.stickers("mixed")[0].id
    bot.svc.users.record(f"dc:{ALICE}", cats, "chosen", "cat nap")
    for typed in ("", "c", "cat", "fa"):
        record = await bot.api.autocomplete(
            "sticker", "query", typed, user_id=ALICE, guild_id=bot.guild_a
        )
        await record.until(lambda r: bool(r.responses))
        [response] = record.responses
        assert response["type"] == 8
        choices = response["data"]["choices"]
        assert 0 < len(choices) <= 25
        assert all(len(c["name"]) <= 100 and len(c["value"]) <= 56 for c in choices)
        assert record.first_response_s is not None and record.first_response_s < 1.0
    record = await bot.api.autocomplete(
        "sticker", "query", "ca", user_id=ALICE, guild_id=bot.guild_a
    )
    await record.until(lambda r: bool(r.responses))
    assert record.responses[0]["data"]["choices"][0]["value"] == "cat nap", "own queries first"


# --- the /sticker flow -----------------------------------------------------------------------


async def test_sticker_defers_then_shows_a_numbered_page_with_buttons(bot: Bot) -> None:
    import_cats(bot.svc, 12)
    record = await bot.sticker(ALICE, "cat")
    assert record.responses[0] == {"type": 5, "data": {"flags": fake.EPHEMERAL}}
    assert record.content == "Stickers for “cat”: 1–10 of 12. Pick a number to post it here."
    [(name, sheet)] = record.files
    assert name == "stickers.png" and Image.open(io.BytesIO(sheet)).format == "PNG"
    assert len(picks(record)) == 10 and all(len(c) <= 100 for c in record.custom_ids())
    assert not record.message["flags"] & LOADING  # type: ignore[index]
    # Next page: a deferred update of the same message.
    turned = await bot.press(record, page_button(record, "find", "Next ▶"))
    assert turned.response_types == [6]
    assert turned.content.startswith("Stickers for “cat”: 11–12 of 12.")
    assert len(picks(turned)) == 2
    back = await bot.press(turned, page_button(turned, "find", "◀ Previous"))
    assert back.content.startswith("Stickers for “cat”: 1–10 of 12.")


async def test_no_results_and_the_empty_query_say_so(bot: Bot) -> None:
    import_cats(bot.svc, 2)
    assert (await bot.sticker(ALICE, "spaceship")).content.startswith("No stickers found")
    assert (await bot.sticker(ALICE, "")).content.startswith("You have no recent stickers")


async def test_a_pick_posts_an_attachment_as_the_bot_and_records_it(bot: Bot) -> None:
    cats = import_cats(bot.svc, 3)
    channel = bot.api.default_channel(bot.guild_a)
    record = await bot.sticker(ALICE, "cat")
    first = picks(record)[0]
    pressed = await bot.press(record, first, app_permissions=fake.BOT_DEFAULT)
    assert pressed.response_types == [6]
    [post] = bot.api.posted(channel)
    assert post["content"] == f"-# sent by <@{ALICE}>"
    [attachment] = post["attachments"]
    assert attachment["filename"] == "sticker.png"
    body = bot.api.calls_to("POST", f"/channels/{channel}/messages")[-1].body
    assert body["allowed_mentions"]["parse"] == [], "the credit line pings nobody"
    sticker_id = int(first.split(":")[2])
    assert interactions(bot.svc, f"dc:{ALICE}") == [(sticker_id, "chosen", "cat", "guild")]
    assert sticker_id in cats
    assert pressed.content == SENT and pressed.custom_ids() == []


async def test_a_pick_goes_through_a_webhook_under_the_users_name(bot: Bot) -> None:
    import_cats(bot.svc, 3)
    channel = bot.api.default_channel(bot.guild_a)
    perms = fake.BOT_DEFAULT | fake.MANAGE_WEBHOOKS
    for n in range(2):
        record = await bot.sticker(ALICE, "cat")
        await bot.press(record, picks(record)[n], app_permissions=perms)
    posts = bot.api.posted(channel)
    assert [p["author"]["username"] for p in posts] == ["Ann", "Ann"]
    assert all(p["webhook_id"] and p["attachments"] for p in posts)
    assert posts[0]["author"]["avatar_url"].startswith(bot.api.cdn_url)
    assert len(bot.api.calls_to("POST", f"/channels/{channel}/webhooks")) == 1, "made once"
    assert len(interactions(bot.svc, f"dc:{ALICE}")) == 2


async def test_animated_stickers_are_posted_as_animated_gifs(bot: Bot) -> None:
    items = [ImportItem("moving.tgs", moving_tgs, emoji="🐱")]
    bot.svc.library.import_items(items, "moving")
    record = await bot.sticker(ALICE, "cat")
    await bot.press(record, picks(record)[0])
    [post] = bot.api.posted(bot.api.default_channel(bot.guild_a))
    assert post["attachments"][0]["filename"] == "sticker.gif"
    call = bot.api.calls_to("POST", "/channels/")[-1]
    [(_, gif)] = call.files
    assert Image.open(io.BytesIO(gif)).n_frames > 10


async def test_foreign_and_stale_presses_get_a_polite_answer(bot: Bot) -> None:
    import_cats(bot.svc, 2)
    record = await bot.sticker(ALICE, "cat")
    foreign = await bot.press(record, picks(record)[0], user_id=BOB)
    assert answered(foreign) == [(4, FOREIGN, True)]
    bot.svc.library.remove_pack("cats")
    stale = await bot.press(record, picks(record)[0])
    assert stale.response_types == [6] and stale.content == STALE
    assert stale.followups[0]["flags"] & fake.EPHEMERAL
    assert bot.api.posted(bot.api.default_channel(bot.guild_a)) == []
    assert interactions(bot.svc, f"dc:{ALICE}") == []


async def test_buttons_keep_working_after_a_restart(make_bot: BotFactory) -> None:
    async with make_bot() as first:
        import_cats(first.svc, 12)
        record = await first.sticker(ALICE, "cat")
    async with make_bot() as second:
        turned = await second.press(record, page_button(record, "find", "Next ▶"))
        assert turned.content.startswith("Stickers for “cat”: 11–12 of 12.")
        await second.press(turned, picks(turned)[0])
        assert len(interactions(second.svc, f"dc:{ALICE}")) == 1


async def test_dms_search_global_packs_and_post_as_the_bot(bot: Bot) -> None:
    import_cats(bot.svc, 2)
    record = await bot.sticker(ALICE, "cat", guild_id=None)
    assert record.content.startswith("Stickers for “cat”: 1–2 of 2.")
    pressed = await bot.api.press(record, picks(record)[0], user_id=ALICE, guild_id=None)
    await pressed.until(lambda r: r.edits > 0)
    [(_, kind, _, chat)] = interactions(bot.svc, f"dc:{ALICE}")
    assert (kind, chat) == ("chosen", "dm")


# --- sent stickers ---------------------------------------------------------------------------


async def test_stickers_sent_in_channels_are_recorded(
    make_bot: BotFactory, api: FakeDiscord
) -> None:
    async with make_bot() as bot:
        await admin_imports_the_server(bot)
        club_cat = bot.api.guilds[bot.guild_a]["stickers"][0]
        item = {"id": club_cat["id"], "name": club_cat["name"], "format_type": 1}
        unknown = {"id": "1", "name": "elsewhere", "format_type": 1}
        channel = bot.api.default_channel(bot.guild_a)
        await bot.api.user_message(channel, ALICE, sticker_items=[item])
        await bot.api.user_message(channel, BOB, sticker_items=[unknown])
        await bot.api.user_message(channel, 99, bot=True, sticker_items=[item])
        await wait_for_interactions(bot.svc, f"dc:{ALICE}", 1)
        [(sticker_id, kind, query, chat)] = interactions(bot.svc, f"dc:{ALICE}")
        assert bot.svc.platform("discord").sticker_by_unique_id(club_cat["id"]) == sticker_id
        assert (kind, query, chat) == ("sent", "", "guild")
        assert interactions(bot.svc, "dc:99") == [] and interactions(bot.svc, f"dc:{BOB}") == []
    async with make_bot(record_sent=False) as quiet:
        await quiet.api.user_message(channel, ALICE, sticker_items=[item])
        assert len(interactions(quiet.svc, f"dc:{ALICE}")) == 1, "no intent, no messages"


async def wait_for_interactions(svc: SearchService, user: str, n: int) -> None:
    for _ in range(200):
        if len(svc.users.interactions(user)) >= n:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{user} has {svc.users.interactions(user)}")


# --- admin commands --------------------------------------------------------------------------


async def admin_imports_the_server(bot: Bot) -> InteractionRecord:
    """A member with Manage Expressions runs /addpack server in guild A."""
    return await bot.command(ADMIN, "addpack", [{"name": "server", "type": 1}], permissions=MANAGER)


async def test_admin_commands_refuse_members_without_the_permission(bot: Bot) -> None:
    import_cats(bot.svc, 1)
    tries = [
        ("addpack", [{"name": "server", "type": 1}], REFUSAL),
        ("packs", [], REFUSAL),
        ("removepack", [{"name": "name", "type": 3, "value": "cats"}], REFUSAL),
        ("publishpack", [{"name": "name", "type": 3, "value": "cats"}], OPERATORS_ONLY),
        ("status", [], OPERATORS_ONLY),
    ]
    for name, options, refusal in tries:
        record = await bot.command(ALICE, name, options)
        assert answered(record) == [(4, refusal, True)]
    # Manage Expressions is enough for the server's packs, not for operator commands.
    for name in ("publishpack", "status"):
        record = await bot.command(
            ADMIN, name, tries[3][1] if name == "publishpack" else [], permissions=MANAGER
        )
        assert answered(record) == [(4, OPERATORS_ONLY, True)]
    assert bot.api.calls_to("GET", "/guilds/") == []
    assert [p.name for p in bot.svc.library.packs()] == ["cats"]


async def test_addpack_server_imports_the_servers_stickers_scoped_to_it(bot: Bot) -> None:
    record = await admin_imports_the_server(bot)
    assert record.response_types == [5]
    assert record.content.startswith("Added “Cat Club” (guild-")
    assert ": 2 new, 0 already in the library, 0 failed." in record.content
    [pack] = bot.svc.library.packs()
    assert (pack.source, pack.space, pack.added_by) == (
        "discord", f"dc-guild:{bot.guild_a}", f"dc:{ADMIN}"
    )  # fmt: skip
    served = {s["id"] for s in bot.api.guilds[bot.guild_a]["stickers"]}
    stored = {s.discord_sticker_id: s for s in bot.svc.library.stickers()}
    assert set(stored) == served
    assert {s.format for s in stored.values()} == {"png"}, "APNG is a PNG"
    assert {s.emoji for s in stored.values()} == {"😺", "💃"}


async def test_a_server_stickers_description_and_tags_find_it(bot: Bot) -> None:
    guild = bot.api.guilds[bot.guild_a]
    guild["stickers"].clear()
    bot.api.add_sticker(bot.guild_a, "otto", "png", png(90, 64), "wave,hello_there", "an otter")
    bot.api.add_sticker(bot.guild_a, "plain", "png", png(30, 64), "", None)  # Discord sends null
    record = await admin_imports_the_server(bot)
    assert ": 2 new, 0 already in the library, 0 failed." in record.content
    for query in ("otter", "hello", "wave", "otto"):
        found = await bot.sticker(ALICE, query)
        assert found.content.startswith(f"Stickers for “{query}”: 1–1 of 1."), query


async def test_the_full_flow_admin_imports_member_picks_other_guild_never_sees(bot: Bot) -> None:
    await admin_imports_the_server(bot)
    import_cats(bot.svc, 1, pack="public")  # a global pack both servers see
    found = await bot.sticker(ALICE, "cat")
    # The club cat (😺), the dancer (its pack is "Cat Club") and the public cat.
    assert found.content.startswith("Stickers for “cat”: 1–3 of 3.")
    own = bot.svc.library.stickers(f"guild-{bot.guild_a}")
    club_cat = next(s for s in own if s.emoji == "😺")
    button = next(c for c in picks(found) if c.split(":")[2] == str(club_cat.id))
    await bot.press(found, button)
    [post] = bot.api.posted(bot.api.default_channel(bot.guild_a))
    assert post["sticker_items"][0]["id"] == club_cat.discord_sticker_id, "as the server's sticker"
    assert post["content"] == f"-# sent by <@{ALICE}>" and post["attachments"] == []
    assert interactions(bot.svc, f"dc:{ALICE}") == [(club_cat.id, "chosen", "cat", "guild")]
    # A member of the other server: the public cat only, and no completion from the pack.
    other = await bot.sticker(BOB, "cat", guild_id=bot.guild_b)
    assert other.content.startswith("Stickers for “cat”: 1–1 of 1.")
    assert all(c.split(":")[2] != str(club_cat.id) for c in picks(other))
    typed = await bot.api.autocomplete(
        "sticker", "query", "cat c", user_id=BOB, guild_id=bot.guild_b
    )
    await typed.until(lambda r: bool(r.responses))
    names = [c["value"] for c in typed.responses[0]["data"]["choices"]]
    assert "cat club" not in names
    here = await bot.api.autocomplete(
        "sticker", "query", "cat c", user_id=ALICE, guild_id=bot.guild_a
    )
    await here.until(lambda r: bool(r.responses))
    assert "cat club" in [c["value"] for c in here.responses[0]["data"]["choices"]]
    # Nor can its button be replayed there.
    replay = await bot.press(found, button, user_id=ALICE, guild_id=bot.guild_b)
    assert replay.content == STALE


async def test_addpack_zip_imports_an_attached_archive(bot: Bot) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a.png", png(1))
        zf.writestr("b.png", png(2))
        zf.writestr("notes.txt", "ignored")
    attachment = bot.api.attachment("party.zip", archive.getvalue(), "application/zip")
    options = [
        {
            "name": "zip",
            "type": 1,
            "options": [{"name": "file", "type": 11, "value": attachment["id"]}],
        }
    ]
    resolved = {"attachments": {attachment["id"]: attachment}}
    record = await bot.command(ADMIN, "addpack", options, permissions=MANAGER, resolved=resolved)
    assert record.content.startswith("Added “party” (party): 2 new")
    [pack] = bot.svc.library.packs()
    assert (pack.name, pack.source, pack.space) == ("party", "local", f"dc-guild:{bot.guild_a}")


async def test_addpack_telegram_imports_a_set_with_the_telegram_token(make_bot: BotFactory) -> None:
    from tests.adapters.test_telegram import webp
    from tests.fakes.telegram_api import FakeBotApi

    telegram = FakeBotApi()
    await telegram.start()
    try:
        telegram.add_sticker_set("Animals", "Cute Animals", [(webp((1, 2, 3, 255)), "webp", "🐶")])
        option = {"name": "telegram", "type": 1}
        option["options"] = [
            {"name": "name", "type": 3, "value": "https://t.me/addstickers/Animals"}
        ]
        async with make_bot() as without:
            record = await without.command(ADMIN, "addpack", [option], permissions=MANAGER)
            assert (
                record.content == "Telegram sticker sets need the bot's Telegram token configured."
            )
        source = TelegramSource(telegram.token, telegram.base_url)
        async with make_bot(telegram=source) as bot:
            record = await bot.command(ADMIN, "addpack", [option], permissions=MANAGER)
            assert record.content.startswith("Added “Cute Animals” (Animals): 1 new")
            [pack] = bot.svc.library.packs()
            assert (pack.source, pack.space) == ("telegram", f"dc-guild:{bot.guild_a}")
    finally:
        await telegram.stop()


async def test_packs_removepack_publishpack_and_status(bot: Bot) -> None:
    await admin_imports_the_server(bot)
    import_cats(bot.svc, 1, pack="public")
    listed = await bot.command(ADMIN, "packs", permissions=MANAGER)
    assert listed.content.splitlines() == [
        f"guild-{bot.guild_a} · Cat Club · 2 stickers · discord · this server",
        "public · public · 1 stickers · local · public",
    ]
    other = await bot.command(BOB, "packs", guild_id=bot.guild_b, permissions=MANAGER)
    assert other.content == "public · public · 1 stickers · local · public"
    name = [{"name": "name", "type": 3, "value": "public"}]
    refused = await bot.command(ADMIN, "removepack", name, permissions=MANAGER)
    assert refused.content == "The pack public is public: only the operators remove it."
    status = await bot.command(OPERATOR, "status")
    assert status.content.splitlines() == [
        "Library: 3 stickers in 2 packs",
        "Annotation backlog: 3 stickers",
        "Pack proposals waiting: 0",
        f"Discord: connected as {fake.BOT_NAME} to 2 servers",
        "Discord: sent stickers recorded (GUILD_MESSAGES intent)",
        "annotate: last run 12:00, ok",
    ]
    own = [{"name": "name", "type": 3, "value": f"guild-{bot.guild_a}"}]
    published = await bot.command(OPERATOR, "publishpack", own)
    assert published.content.endswith("is now public: every server sees it.")
    assert (await bot.sticker(BOB, "cat", guild_id=bot.guild_b)).content.startswith(
        "Stickers for “cat”: 1–3 of 3."
    )
    # Public now: the server's managers no longer remove it alone; the operator does.
    refused = await bot.command(ADMIN, "removepack", own, permissions=MANAGER)
    assert refused.content.endswith("is public: only the operators remove it.")
    removed = await bot.command(OPERATOR, "removepack", own)
    assert removed.content == f"Removed the pack guild-{bot.guild_a} (2 stickers)."


async def test_pack_names_autocomplete_from_what_the_server_sees(bot: Bot) -> None:
    await admin_imports_the_server(bot)
    record = await bot.api.autocomplete(
        "removepack", "name", "", user_id=ADMIN, guild_id=bot.guild_b, permissions=MANAGER
    )
    await record.until(lambda r: bool(r.responses))
    assert record.responses[0]["data"]["choices"] == []
    record = await bot.api.autocomplete(
        "removepack", "name", "cat", user_id=ADMIN, guild_id=bot.guild_a, permissions=MANAGER
    )
    await record.until(lambda r: bool(r.responses))
    assert record.responses[0]["data"]["choices"] == [
        {"name": f"Cat Club (guild-{bot.guild_a})", "value": f"guild-{bot.guild_a}"}
    ]


# --- similar stickers ------------------------------------------------------------------------


async def test_find_similar_on_sticker_and_image_messages(bot: Bot) -> None:
    await admin_imports_the_server(bot)
    import_cats(bot.svc, 3, pack="public")
    core = internals(bot.svc)  # style vectors as the annotation job would store them
    AnnotationPipeline(core.db, core.media, [ColourStyle()], core.style_index).run()
    channel = bot.api.default_channel(bot.guild_a)
    club_cat = bot.api.guilds[bot.guild_a]["stickers"][0]
    item = {"id": club_cat["id"], "name": club_cat["name"], "format_type": 1}
    with_sticker = bot.api.message_json(channel, fake.user(BOB), sticker_items=[item])
    record = await bot.api.context_menu(
        "Find similar stickers", with_sticker, user_id=ALICE, guild_id=bot.guild_a
    )
    await record.until(lambda r: r.edits > 0)
    assert record.responses[0] == {"type": 5, "data": {"flags": fake.EPHEMERAL}}
    assert record.content.startswith("Stickers like that one:"), record.content
    assert picks(record) and all(c.endswith(":") for c in picks(record)), "recorded without query"
    await bot.press(record, picks(record)[0])
    [(_, kind, query, _)] = interactions(bot.svc, f"dc:{ALICE}")
    assert (kind, query) == ("chosen", "")
    # An attached image that is a library sticker; a message with nothing to compare.
    image = bot.api.attachment("cat.png", png(0))
    with_image = bot.api.message_json(channel, fake.user(BOB), attachments=[image])
    record = await bot.api.context_menu(
        "Find similar stickers", with_image, user_id=ALICE, guild_id=bot.guild_a
    )
    await record.until(lambda r: r.edits > 0 or bool(r.followups))
    assert record.content.startswith("Stickers like that one:")
    plain = bot.api.message_json(channel, fake.user(BOB), content="hello")
    record = await bot.api.context_menu(
        "Find similar stickers", plain, user_id=ALICE, guild_id=bot.guild_a
    )
    await record.until(finished)
    assert record.content == NOTHING_TO_COMPARE


# --- user commands and errors ----------------------------------------------------------------


async def test_help_nsfw_and_forgetme(bot: Bot) -> None:
    [cat] = import_cats(bot.svc, 1)
    assert "/sticker" in (await bot.command(ALICE, "help")).content
    on = await bot.command(ALICE, "nsfw", [{"name": "mode", "type": 3, "value": "on"}])
    assert on.content == "NSFW stickers are shown in your results."
    assert bot.svc.users.nsfw_opt_in(f"dc:{ALICE}")
    bot.svc.users.record(f"dc:{ALICE}", cat, "chosen", "cat")
    gone = await bot.command(ALICE, "forgetme")
    assert "deleted your 1 sticker picks" in gone.content
    assert interactions(bot.svc, f"dc:{ALICE}") == [] and not bot.svc.users.nsfw_opt_in(
        f"dc:{ALICE}"
    )


async def test_errors_reach_users_as_a_short_message_and_the_log_keeps_them(
    bot: Bot, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import_cats(bot.svc, 2)

    def fail(*_args: object, **_kwargs: object) -> None:
        raise LibraryLockedError("The library in /var/lib/stickerbot is in use by pid 4242")

    monkeypatch.setattr(bot.svc, "search", fail)
    with caplog.at_level(logging.ERROR):
        record = await bot.sticker(ALICE, "cat")
    assert record.content == GENERIC_ERROR
    assert "/var/lib/stickerbot" in caplog.text, "the operator finds the details in the log"
    assert "Traceback" in caplog.text or any(r.exc_info for r in caplog.records)


async def test_user_facing_errors_are_shown_as_they_are(bot: Bot) -> None:
    options = [{"name": "name", "type": 3, "value": "nope"}]
    record = await bot.command(ADMIN, "removepack", options, permissions=MANAGER)
    assert record.content == "No pack named 'nope' here."
