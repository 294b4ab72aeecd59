"""A local fake of Discord's HTTP API, gateway and CDN, for running the real discord.py client.

It speaks the wire format discord.py uses: REST under `/api/v10` (JSON or multipart with
`payload_json` and `files[n]` in; JSON out), the gateway as a websocket (HELLO, IDENTIFY ->
READY and GUILD_CREATE, heartbeats, dispatched events as text frames) and CDN paths for
sticker and attachment bytes. It keeps just enough state (guilds, channels, messages, webhooks,
commands, interactions and their responses) and records every request. Point
`discord.api_base_url`, `gateway_url` and `cdn_url` at it and use `api.token`.
"""

import asyncio
import itertools
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

JSONDict = dict[str, Any]
TOKEN = "fake.discord-bot.token-0123456789"
APP_ID = 900000000000000001  # a modern application's bot user has the application's id
BOT_NAME = "Stickerbot"
EPHEMERAL = 1 << 6
# Permission bits (Discord's documented values).
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_HISTORY = 1 << 16
MANAGE_WEBHOOKS = 1 << 29
MANAGE_EXPRESSIONS = 1 << 30
SEND_IN_THREADS = 1 << 38
MEMBER = VIEW_CHANNEL | SEND_MESSAGES | ATTACH_FILES | READ_HISTORY | EMBED_LINKS
BOT_DEFAULT = MEMBER | SEND_IN_THREADS
# Gateway intent bits.
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
STICKER_FORMATS = {"png": 1, "apng": 2, "lottie": 3, "gif": 4}
CDN_EXTENSIONS = {1: "png", 2: "png", 3: "json", 4: "gif"}


class ApiFailure(Exception):
    """An error answer of the API: HTTP status, Discord error code and message."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Call:
    """One request the bot made."""

    method: str
    path: str
    body: Any = None  # the JSON body, or `payload_json` of a multipart body
    files: list[tuple[str, bytes]] = field(default_factory=list)
    query: dict[str, str] = field(default_factory=dict)


@dataclass
class InteractionRecord:
    """An interaction the fake sent, and what the bot answered."""

    id: int
    token: str
    payload: JSONDict
    sent_at: float
    responses: list[JSONDict] = field(default_factory=list)  # callback bodies: {type, data}
    first_response_s: float | None = None  # seconds from dispatch to the first callback
    message: JSONDict | None = None  # the response message as it stands after edits
    followups: list[JSONDict] = field(default_factory=list)
    edits: int = 0  # PATCHes of the response message (edit_original_response)
    files: list[tuple[str, bytes]] = field(default_factory=list)  # the latest files sent
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def response_types(self) -> list[int]:
        """Callback types in order (4 message, 5 deferred, 6 deferred update, 8 choices)."""
        return [r["type"] for r in self.responses]

    @property
    def content(self) -> str:
        """The response message's text, or the last follow-up's."""
        if self.followups:
            return str(self.followups[-1].get("content") or "")
        return str((self.message or {}).get("content") or "")

    def custom_ids(self) -> list[str]:
        """Every button's custom_id on the response message."""
        rows = (self.message or {}).get("components") or []
        return [
            c["custom_id"] for row in rows for c in row.get("components", []) if "custom_id" in c
        ]

    async def until(
        self, done: Callable[["InteractionRecord"], bool], timeout: float = 20.0
    ) -> None:
        """Wait until `done(self)` holds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            self.changed.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"interaction {self.id} never got there: {self.responses}")
            try:
                await asyncio.wait_for(self.changed.wait(), left)
            except TimeoutError:
                continue


def user(user_id: int, name: str = "ann", bot: bool = False) -> JSONDict:
    """A User object."""
    found: JSONDict = {"id": str(user_id), "username": name, "discriminator": "0"}
    found |= {"global_name": name.title(), "avatar": None, "bot": bot, "public_flags": 0}
    return found


class FakeDiscord:
    """The fake server. Tests add guilds, send interactions and messages, and read state."""

    token = TOKEN
    app_id = APP_ID

    def __init__(self) -> None:
        self._ids = itertools.count(1_000_000_000_000_000)
        self.calls: list[Call] = []
        self.guilds: dict[int, JSONDict] = {}
        self.channels: dict[int, JSONDict] = {}
        self.stickers: dict[int, tuple[JSONDict, bytes]] = {}
        self.messages: defaultdict[int, list[JSONDict]] = defaultdict(list)  # DMs too
        self.webhooks: dict[int, JSONDict] = {}
        self.files: dict[str, bytes] = {}  # CDN path -> bytes
        self.commands: dict[int | None, list[JSONDict]] = {}  # guild id (None: global)
        self.interactions: dict[int, InteractionRecord] = {}
        self.identify: JSONDict | None = None
        self.calls_before_identify = 0  # how many requests came before the gateway IDENTIFY
        self.failures: dict[str, ApiFailure] = {}  # "METHOD path-pattern" -> error from now on
        self.ready = asyncio.Event()
        self._ws: web.WebSocketResponse | None = None
        self._seq = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/cdn/{path:.+}", self._cdn)
        app.router.add_route("*", "/api/v10/{path:.+}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Close the gateway and stop listening."""
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base_url(self) -> str:
        """What `discord.api_base_url` must be set to."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def cdn_url(self) -> str:
        """What `discord.cdn_url` must be set to."""
        return f"http://127.0.0.1:{self.port}/cdn"

    @property
    def gateway_url(self) -> str:
        """Where GET /gateway/bot sends the client."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def snowflake(self) -> int:
        """A new id."""
        return next(self._ids)

    # --- what tests set up ------------------------------------------------------------------

    def add_guild(self, name: str, owner_id: int = 1) -> JSONDict:
        """A guild with one text channel (before the bot connects, or GUILD_CREATE follows)."""
        guild_id = self.snowflake()
        everyone = {"id": str(guild_id), "name": "@everyone", "permissions": str(MEMBER)}
        everyone |= {"position": 0, "color": 0, "hoist": False, "managed": False}
        everyone |= {"mentionable": False, "flags": 0}
        guild: JSONDict = {
            "id": str(guild_id), "name": name, "icon": None, "owner_id": str(owner_id),
            "roles": [everyone], "emojis": [], "stickers": [], "channels": [], "members": [],
            "threads": [], "voice_states": [], "presences": [], "member_count": 2,
            "large": False, "features": [], "unavailable": False, "stage_instances": [],
            "guild_scheduled_events": [], "soundboard_sounds": [], "preferred_locale": "en-US",
            "joined_at": "2024-01-01T00:00:00+00:00", "premium_tier": 0,
        }  # fmt: skip
        self.guilds[guild_id] = guild
        self.add_channel(guild_id, "general")
        return guild

    def add_channel(self, guild_id: int, name: str, kind: int = 0) -> JSONDict:
        """A text (0), voice (2) or public-thread (11) channel of a guild."""
        channel_id = self.snowflake()
        channel: JSONDict = {"id": str(channel_id), "type": kind, "guild_id": str(guild_id)}
        channel |= {"name": name, "position": len(self.guilds[guild_id]["channels"])}
        channel |= {"permission_overwrites": [], "nsfw": False, "parent_id": None}
        if kind == 2:
            channel |= {"bitrate": 64000, "user_limit": 0}
        self.guilds[guild_id]["channels"].append(channel)
        self.channels[channel_id] = channel
        self.messages[channel_id] = []
        return channel

    def add_sticker(
        self,
        guild_id: int,
        name: str,
        fmt: str,
        data: bytes,
        tags: str = "",
        description: str | None = "",
    ) -> JSONDict:
        """A guild sticker served by GET /guilds/{id}/stickers and the CDN."""
        sticker_id = self.snowflake()
        sticker: JSONDict = {"id": str(sticker_id), "name": name, "tags": tags}
        sticker["description"] = description
        sticker |= {"type": 2, "format_type": STICKER_FORMATS[fmt], "available": True}
        sticker |= {"guild_id": str(guild_id)}
        self.guilds[guild_id]["stickers"].append(sticker)
        self.stickers[sticker_id] = (sticker, data)
        self.files[f"stickers/{sticker_id}.{CDN_EXTENSIONS[sticker['format_type']]}"] = data
        return sticker

    def default_channel(self, guild_id: int) -> int:
        """The guild's first channel."""
        return int(self.guilds[guild_id]["channels"][0]["id"])

    def calls_to(self, method: str, path_start: str) -> list[Call]:
        """Recorded requests of one method whose path starts with `path_start`."""
        return [c for c in self.calls if c.method == method and c.path.startswith(path_start)]

    def posted(self, channel_id: int) -> list[JSONDict]:
        """Messages in a channel, oldest first."""
        return self.messages[channel_id]

    # --- gateway ------------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            frame = json.loads(msg.data)
            if frame["op"] == 1:
                await ws.send_json({"op": 11, "d": None, "s": None, "t": None})
            elif frame["op"] == 2:
                if frame["d"].get("token") != TOKEN:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                self.identify = frame["d"]
                self.calls_before_identify = len(self.calls)
                await self._send_ready()
        if self._ws is ws:
            self._ws = None
            self.ready.clear()
        return ws

    async def _send_ready(self) -> None:
        guilds = [{"id": str(g), "unavailable": True} for g in self.guilds]
        ready = {"v": 10, "user": user(APP_ID, BOT_NAME, bot=True), "guilds": guilds}
        ready |= {"session_id": "fake-session", "resume_gateway_url": self.gateway_url}
        ready |= {"application": {"id": str(APP_ID), "flags": 0}}
        await self.dispatch("READY", ready)
        for guild in self.guilds.values():
            await self.dispatch("GUILD_CREATE", guild)
        self.ready.set()

    async def dispatch(self, event: str, data: JSONDict) -> None:
        """Send one gateway event (the client must be connected)."""
        if self._ws is None:
            raise AssertionError("the bot is not connected to the gateway")
        await self._ws.send_json({"op": 0, "t": event, "s": next(self._seq), "d": data})

    def intents(self) -> int:
        """The intents the bot identified with."""
        return int((self.identify or {}).get("intents", 0))

    # --- events the tests cause ------------------------------------------------------------

    def member(self, user_id: int, permissions: int = MEMBER, name: str = "ann") -> JSONDict:
        """A guild member as interactions carry it, with resolved permissions."""
        found: JSONDict = {"user": user(user_id, name), "roles": [], "nick": None}
        found |= {"joined_at": "2024-01-02T00:00:00+00:00", "deaf": False, "mute": False}
        found |= {"flags": 0, "permissions": str(permissions), "avatar": None}
        return found

    def message_json(
        self, channel_id: int, author: JSONDict, content: str = "", **extra: Any
    ) -> JSONDict:
        """A Message object."""
        channel = self.channels.get(channel_id, {})
        message: JSONDict = {"id": str(self.snowflake()), "channel_id": str(channel_id)}
        message |= {"author": author, "content": content, "type": 0, "flags": 0}
        message |= {"timestamp": "2024-06-01T12:00:00+00:00", "edited_timestamp": None}
        message |= {"tts": False, "mention_everyone": False, "mentions": [], "mention_roles": []}
        message |= {"attachments": [], "embeds": [], "pinned": False, "components": []}
        if "guild_id" in channel:
            message["guild_id"] = channel["guild_id"]
        return message | extra

    def attachment(self, filename: str, data: bytes, content_type: str = "image/png") -> JSONDict:
        """An Attachment object whose bytes the CDN serves."""
        attachment_id = self.snowflake()
        path = f"attachments/{attachment_id}/{filename}"
        self.files[path] = data
        url = f"{self.cdn_url}/{path}"
        found: JSONDict = {"id": str(attachment_id), "filename": filename, "size": len(data)}
        return found | {"url": url, "proxy_url": url, "content_type": content_type}

    async def user_message(
        self, channel_id: int, user_id: int, bot: bool = False, **extra: Any
    ) -> JSONDict:
        """A user posts a message (MESSAGE_CREATE), if the bot subscribed to guild messages."""
        message = self.message_json(channel_id, user(user_id, bot=bot), **extra)
        self.messages[channel_id].append(message)
        if self.intents() & GUILD_MESSAGES:
            await self.dispatch("MESSAGE_CREATE", message)
        return message

    async def interact(
        self,
        kind: int,
        data: JSONDict,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None = None,
        permissions: int = MEMBER,
        app_permissions: int = BOT_DEFAULT,
        message: JSONDict | None = None,
    ) -> InteractionRecord:
        """Send an INTERACTION_CREATE and return its record (responses arrive later)."""
        interaction_id = self.snowflake()
        payload = self._interaction_payload(
            interaction_id, kind, data, user_id, guild_id, channel_id, permissions
        )
        payload["app_permissions"] = str(app_permissions)
        if message is not None:
            payload["message"] = message
        record = InteractionRecord(interaction_id, payload["token"], payload, time.monotonic())
        self.interactions[interaction_id] = record
        await self.dispatch("INTERACTION_CREATE", payload)
        return record

    def _interaction_payload(
        self,
        interaction_id: int,
        kind: int,
        data: JSONDict,
        user_id: int,
        guild_id: int | None,
        channel_id: int | None,
        permissions: int,
    ) -> JSONDict:
        payload: JSONDict = {"id": str(interaction_id), "application_id": str(APP_ID)}
        payload |= {"type": kind, "data": data, "token": f"itoken{interaction_id}", "version": 1}
        payload |= {"locale": "en-US", "entitlements": [], "attachment_size_limit": 10 << 20}
        if guild_id is None:
            dm = {"id": str(channel_id or self.snowflake()), "type": 1, "recipients": []}
            payload |= {"user": user(user_id), "channel": dm, "channel_id": dm["id"], "context": 1}
            return payload
        channel = self.channels[channel_id or self.default_channel(guild_id)]
        payload |= {"guild_id": str(guild_id), "guild_locale": "en-US", "context": 0}
        payload |= {"channel": channel, "channel_id": channel["id"]}
        payload |= {"member": self.member(user_id, permissions)}
        return payload

    async def slash(
        self, name: str, options: list[JSONDict] | None = None, **where: Any
    ) -> InteractionRecord:
        """A slash command (type 2) with its options."""
        data: JSONDict = {"id": str(self._command_id(name)), "name": name, "type": 1}
        data["options"] = options or []
        if "resolved" in where:
            data["resolved"] = where.pop("resolved")
        return await self.interact(2, data, **where)

    async def autocomplete(
        self, name: str, option: str, typed: str, **where: Any
    ) -> InteractionRecord:
        """The user typing `typed` into a command's option (type 4)."""
        focused = {"name": option, "type": 3, "value": typed, "focused": True}
        data = {"id": str(self._command_id(name)), "name": name, "type": 1, "options": [focused]}
        return await self.interact(4, data, **where)

    async def context_menu(self, name: str, target: JSONDict, **where: Any) -> InteractionRecord:
        """A message context-menu command on `target` (type 2, command type 3)."""
        data = {"id": str(self._command_id(name)), "name": name, "type": 3}
        data |= {"target_id": target["id"], "resolved": {"messages": {target["id"]: target}}}
        return await self.interact(2, data, **where)

    async def press(self, on: InteractionRecord, custom_id: str, **where: Any) -> InteractionRecord:
        """A button press on the response message of an earlier interaction (type 3)."""
        if on.message is None:
            raise AssertionError("that interaction has no message to press on")
        data = {"custom_id": custom_id, "component_type": 2}
        return await self.interact(3, data, message=on.message, **where)

    def _command_id(self, name: str) -> int:
        for commands in self.commands.values():
            for command in commands:
                if command["name"] == name:
                    return int(command["id"])
        return 0  # not registered: discord.py finds commands by name anyway

    # --- HTTP -----------------------------------------------------------------------------

    async def _cdn(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["path"])
        if data is None:
            return web.Response(status=404, text="Not Found")
        return web.Response(body=data)

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        call = await _parse(request, path)
        self.calls.append(call)
        needs_bot = not path.startswith(("/interactions/", "/webhooks/"))
        try:
            if needs_bot and request.headers.get("Authorization") != f"Bot {TOKEN}":
                raise ApiFailure(401, 0, "401: Unauthorized")
            for key, failure in self.failures.items():
                method, pattern = key.split(" ", 1)
                if method == call.method and path.startswith(pattern):
                    raise failure
            result = self._route(call)
        except ApiFailure as exc:
            return _json({"code": exc.code, "message": exc.message}, exc.status)
        if result is None:
            return web.Response(status=204)
        return _json(result)

    def _route(self, call: Call) -> Any:
        parts = call.path.strip("/").split("/")
        handler = getattr(self, f"_{call.method.lower()}_{parts[0]}", None)
        if handler is None:
            raise ApiFailure(404, 0, f"404: Not Found ({call.method} {call.path})")
        return handler(call, parts[1:])

    # GET /users/@me, /oauth2/applications/@me, /gateway/bot, /guilds/{id}/stickers,
    # /stickers/{id}, /channels/{id}/webhooks, /webhooks/{app}/{token}/messages/@original
    def _get_users(self, call: Call, rest: list[str]) -> JSONDict:
        return user(APP_ID, BOT_NAME, bot=True) | {"verified": True, "mfa_enabled": False}

    def _get_oauth2(self, call: Call, rest: list[str]) -> JSONDict:
        app: JSONDict = {"id": str(APP_ID), "name": BOT_NAME, "icon": None, "description": ""}
        app |= {"bot_public": True, "bot_require_code_grant": False, "owner": user(1, "owner")}
        app |= {"verify_key": "00", "flags": 0, "team": None, "summary": ""}
        return app

    def _get_gateway(self, call: Call, rest: list[str]) -> JSONDict:
        limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
        return {"url": self.gateway_url, "shards": 1, "session_start_limit": limit}

    def _get_guilds(self, call: Call, rest: list[str]) -> list[JSONDict]:
        guild = self.guilds.get(int(rest[0]))
        if guild is None or rest[1:] != ["stickers"]:
            raise ApiFailure(404, 10004, "Unknown Guild")
        return list(guild["stickers"])

    def _get_stickers(self, call: Call, rest: list[str]) -> JSONDict:
        found = self.stickers.get(int(rest[0]))
        if found is None:
            raise ApiFailure(404, 10060, "Unknown Sticker")
        return found[0]

    def _get_channels(self, call: Call, rest: list[str]) -> list[JSONDict]:
        channel_id = int(rest[0])
        return [w for w in self.webhooks.values() if int(w["channel_id"]) == channel_id]

    def _get_webhooks(self, call: Call, rest: list[str]) -> JSONDict:
        return self._record(rest[1]).message or {}

    # PUT /applications/{app}/commands, /applications/{app}/guilds/{guild}/commands
    def _put_applications(self, call: Call, rest: list[str]) -> list[JSONDict]:
        guild = int(rest[2]) if len(rest) == 4 else None
        registered = [
            {"description": "", "version": "1"}
            | command
            | {"id": str(self.snowflake()), "application_id": str(APP_ID)}
            for command in call.body
        ]
        if guild is not None:
            registered = [c | {"guild_id": str(guild)} for c in registered]
        self.commands[guild] = registered
        return registered

    # POST /interactions/{id}/{token}/callback
    def _post_interactions(self, call: Call, rest: list[str]) -> JSONDict:
        record = self.interactions[int(rest[0])]
        if record.responses:
            raise ApiFailure(400, 40060, "Interaction has already been acknowledged.")
        record.responses.append(call.body)
        record.first_response_s = time.monotonic() - record.sent_at
        kind, data = call.body["type"], call.body.get("data") or {}
        if kind in (4, 5):  # a message, or the "thinking…" placeholder of one
            record.message = self._response_message(record, data, loading=kind == 5)
        elif kind == 7:  # update the message the component is on
            record.message = (record.payload.get("message") or {}) | data
        elif kind == 6:
            record.message = record.payload.get("message")
        record.files = call.files or record.files
        record.changed.set()
        found: JSONDict = {"interaction": {"id": rest[0], "type": record.payload["type"]}}
        if record.message is not None and kind in (4, 5, 7):
            found["resource"] = {"type": kind, "message": record.message}
        return found

    def _response_message(
        self, record: InteractionRecord, data: JSONDict, loading: bool
    ) -> JSONDict:
        author = user(APP_ID, BOT_NAME, bot=True)
        channel_id = int(record.payload["channel_id"])
        message = self.message_json(channel_id, author, str(data.get("content") or ""))
        message |= {"flags": int(data.get("flags", 0)) | (1 << 7 if loading else 0)}
        message |= {"components": data.get("components", []), "webhook_id": str(APP_ID)}
        message["attachments"] = self._attachments(data, [])
        return message

    # POST /channels/{id}/messages, /channels/{id}/webhooks, /webhooks/{id}/{token}
    def _post_channels(self, call: Call, rest: list[str]) -> JSONDict:
        channel_id = int(rest[0])
        if rest[1:] == ["webhooks"]:
            return self._create_webhook(channel_id, call.body)
        body = call.body or {}
        if not (body.get("content") or body.get("sticker_ids") or call.files):
            raise ApiFailure(400, 50006, "Cannot send an empty message")
        message = self.message_json(
            channel_id, user(APP_ID, BOT_NAME, bot=True), body.get("content") or ""
        )
        stickers = [self._sticker_item(int(s)) for s in body.get("sticker_ids", [])]
        message |= {"sticker_items": stickers, "attachments": self._attachments(body, call.files)}
        self.messages[channel_id].append(message)
        return message

    def _sticker_item(self, sticker_id: int) -> JSONDict:
        found = self.stickers.get(sticker_id)
        if found is None:
            raise ApiFailure(400, 50081, "Invalid Sticker")
        sticker = found[0]
        return {"id": sticker["id"], "name": sticker["name"], "format_type": sticker["format_type"]}

    def _create_webhook(self, channel_id: int, body: JSONDict) -> JSONDict:
        webhook_id = self.snowflake()
        channel = self.channels[channel_id]
        webhook: JSONDict = {"id": str(webhook_id), "type": 1, "channel_id": str(channel_id)}
        webhook |= {"guild_id": channel["guild_id"], "name": body["name"], "avatar": None}
        webhook |= {"token": f"wtoken{webhook_id}", "application_id": str(APP_ID)}
        webhook["user"] = user(APP_ID, BOT_NAME, bot=True)
        self.webhooks[webhook_id] = webhook
        return webhook

    def _post_webhooks(self, call: Call, rest: list[str]) -> JSONDict:
        if int(rest[0]) == APP_ID:  # an interaction follow-up
            record = self._record(rest[1])
            message = self._response_message(record, call.body or {}, loading=False)
            record.followups.append(message)
            record.files = call.files or record.files
            record.changed.set()
            return message
        webhook = self.webhooks.get(int(rest[0]))
        if webhook is None or webhook["token"] != rest[1]:
            raise ApiFailure(404, 10015, "Unknown Webhook")
        return self._execute_webhook(webhook, call)

    def _execute_webhook(self, webhook: JSONDict, call: Call) -> JSONDict:
        body = call.body or {}
        if body.get("sticker_ids"):
            raise ApiFailure(400, 50035, "Invalid Form Body (webhooks cannot send stickers)")
        channel_id = int(call.query.get("thread_id") or webhook["channel_id"])
        author = user(int(webhook["id"]), body.get("username") or webhook["name"], bot=True)
        author["avatar_url"] = body.get("avatar_url")
        message = self.message_json(channel_id, author, body.get("content") or "")
        message |= {"webhook_id": webhook["id"], "attachments": self._attachments(body, call.files)}
        self.messages.setdefault(channel_id, []).append(message)
        return message

    # PATCH /webhooks/{app}/{token}/messages/@original (edit_original_response)
    def _patch_webhooks(self, call: Call, rest: list[str]) -> JSONDict:
        record = self._record(rest[1])
        if record.message is None:
            raise ApiFailure(404, 10008, "Unknown Message")
        body = call.body or {}
        message = dict(record.message)
        for key in ("content", "components", "embeds"):
            if key in body:
                message[key] = body[key]
        if "attachments" in body:
            message["attachments"] = self._attachments(body, call.files)
            record.files = list(call.files)
        message["flags"] = int(message.get("flags", 0)) & ~(1 << 7)  # no longer "thinking"
        record.message = message
        record.edits += 1
        record.changed.set()
        return message

    def _record(self, token: str) -> InteractionRecord:
        for record in self.interactions.values():
            if record.token == token:
                return record
        raise ApiFailure(404, 10015, "Unknown Webhook")

    def _attachments(self, body: JSONDict, files: list[tuple[str, bytes]]) -> list[JSONDict]:
        return [self.attachment(name, data) for name, data in files]


def _json(value: Any, status: int = 200) -> web.Response:
    # discord.py parses a body as JSON only for exactly "application/json" (no charset).
    headers = {"Content-Type": "application/json"}
    return web.Response(body=json.dumps(value).encode(), status=status, headers=headers)


async def _parse(request: web.Request, path: str) -> Call:
    """Method, path, JSON body (or multipart `payload_json`) and uploaded files."""
    call = Call(request.method, path, query=dict(request.query))
    if request.content_type == "application/json":
        call.body = await request.json()
    elif request.content_type == "multipart/form-data":
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                call.files.append((value.filename, value.file.read()))
            elif key == "payload_json":
                call.body = json.loads(str(value))
    return call
