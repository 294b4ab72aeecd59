"""A local fake of the Telegram Bot API HTTP server, for running real PTB applications in tests.

It speaks the Bot API's wire format (form, multipart or JSON bodies in; `{"ok": ..}` JSON out),
keeps just enough state (messages, files, sticker sets, queued updates) for the methods the bot
calls, and records every request for assertions. Start it, point `telegram.base_url` at
`api.base_url`, and use `api.token`.
"""

import asyncio
import contextlib
import hashlib
import itertools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSONDict = dict[str, Any]
TOKEN = "123456:TEST-TOKEN"
BOT_ID = 123456
BOT_USERNAME = "stickertest_bot"
STICKER_EXT = {"webp": (False, False), "tgs": (True, False), "webm": (False, True)}


class ApiFailure(Exception):
    """An error answer of the Bot API: HTTP status and description."""

    def __init__(self, code: int, description: str) -> None:
        super().__init__(description)
        self.code = code
        self.description = description


@dataclass
class ApiCall:
    """One request the bot made: its method, parameters as sent and uploaded files."""

    method: str
    params: dict[str, str]
    files: dict[str, bytes] = field(default_factory=dict)

    def json(self, key: str) -> Any:
        """A parameter that PTB sent JSON-encoded (results, reply markup, commands)."""
        return json.loads(self.params[key])


@dataclass
class FakeFile:
    """A file the fake can serve through getFile and the download path."""

    file_id: str
    unique_id: str
    data: bytes
    path: str


def user(user_id: int, first_name: str = "Ann", username: str | None = None) -> JSONDict:
    """A Telegram User object."""
    found: JSONDict = {"id": user_id, "is_bot": False, "first_name": first_name}
    if username:
        found["username"] = username
    return found


def chat(chat_id: int) -> JSONDict:
    """A Chat: positive ids are private chats, negative ones supergroups."""
    if chat_id > 0:
        return {"id": chat_id, "type": "private", "first_name": "Ann"}
    return {"id": chat_id, "type": "supergroup", "title": "Group"}


class Updates:
    """Builds the update JSON Telegram would send, with increasing update ids."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._messages = itertools.count(1000)

    def inline_query(self, from_id: int, query: str, offset: str = "") -> JSONDict:
        """A user typing `@bot query` (offset set by Telegram when paging)."""
        n = next(self._ids)
        body = {"id": f"iq{n}", "from": user(from_id), "query": query, "offset": offset}
        return {"update_id": n, "inline_query": body}

    def chosen(self, from_id: int, result_id: str, query: str) -> JSONDict:
        """A user picking inline result `result_id`."""
        body = {"result_id": result_id, "from": user(from_id), "query": query}
        return {"update_id": next(self._ids), "chosen_inline_result": body}

    def message(self, from_id: int, chat_id: int, **content: Any) -> JSONDict:
        """A message with any content fields (text, sticker, entities, via_bot...)."""
        body = {"message_id": next(self._messages), "date": int(time.time()), "chat": chat(chat_id)}
        body |= {"from": user(from_id)} | content
        return {"update_id": next(self._ids), "message": body}

    def command(self, from_id: int, text: str, chat_id: int | None = None) -> JSONDict:
        """A `/command args` message, with the bot_command entity Telegram adds."""
        length = len(text.split(maxsplit=1)[0])
        entity = {"type": "bot_command", "offset": 0, "length": length}
        return self.message(from_id, chat_id or from_id, text=text, entities=[entity])

    def sticker(self, from_id: int, chat_id: int, sticker: JSONDict, **extra: Any) -> JSONDict:
        """A sticker message."""
        return self.message(from_id, chat_id, sticker=sticker, **extra)


class FakeBotApi:
    """The fake server. Tests read `calls`, `messages`, and add `sticker_sets` and `updates`."""

    token = TOKEN
    bot_id = BOT_ID
    bot_username = BOT_USERNAME

    def __init__(self) -> None:
        self.calls: list[ApiCall] = []
        self.files: dict[str, FakeFile] = {}
        self.sticker_sets: dict[str, JSONDict] = {}
        self.messages: dict[tuple[int, int], JSONDict] = {}
        self.updates: list[JSONDict] = []
        self.failures: dict[str, ApiFailure] = {}  # method -> error answered from now on
        self._message_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._new_update = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Listen on 127.0.0.1 on a free port."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("POST", "/bot{token}/{method}", self._api)
        app.router.add_route("GET", "/bot{token}/{method}", self._api)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening."""
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        """What `telegram.base_url` must be set to."""
        return f"http://127.0.0.1:{self.port}/bot"

    # --- what tests set up and read ---------------------------------------------------------

    def add_file(self, data: bytes, ext: str) -> FakeFile:
        """Store bytes under a new file_id; the unique id depends on the content only."""
        unique = "U" + hashlib.sha256(data).hexdigest()[:15]
        n = next(self._file_ids)
        file = FakeFile(f"F{n}-{unique}", unique, data, f"stickers/file_{n}.{ext}")
        self.files[file.file_id] = file
        return file

    def sticker_json(
        self, file: FakeFile, ext: str, emoji: str = "", set_name: str = ""
    ) -> JSONDict:
        """The Sticker object of a stored file."""
        animated, video = STICKER_EXT[ext]
        found: JSONDict = {
            "file_id": file.file_id,
            "file_unique_id": file.unique_id,
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": animated,
            "is_video": video,
            "file_size": len(file.data),
        }
        if emoji:
            found["emoji"] = emoji
        if set_name:
            found["set_name"] = set_name
        return found

    def add_sticker_set(
        self, name: str, title: str, stickers: list[tuple[bytes, str, str]]
    ) -> JSONDict:
        """Serve a sticker set of (bytes, ext, emoji) through getStickerSet and getFile."""
        items = [
            self.sticker_json(self.add_file(data, ext), ext, emoji, name)
            for data, ext, emoji in stickers
        ]
        sticker_set = {"name": name, "title": title, "sticker_type": "regular", "stickers": items}
        self.sticker_sets[name] = sticker_set
        return sticker_set

    def calls_to(self, method: str) -> list[ApiCall]:
        """The recorded calls of one method, in order."""
        return [c for c in self.calls if c.method == method]

    def texts(self, chat_id: int) -> list[str]:
        """The current texts of the messages the bot has in a chat, oldest first."""
        return [m.get("text", "") for (c, _), m in sorted(self.messages.items()) if c == chat_id]

    def push_update(self, update: JSONDict) -> None:
        """Queue an update for getUpdates."""
        self.updates.append(update)
        self._new_update.set()

    # --- HTTP -------------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != TOKEN:
            return _error(ApiFailure(401, "Unauthorized"))
        method = request.match_info["method"]
        call = await _parse(method, request)
        self.calls.append(call)
        handler = getattr(self, f"_m_{method}", None)
        try:
            if method in self.failures:
                raise self.failures[method]
            if handler is None:
                raise ApiFailure(404, "Not Found")
            result = handler(call)
            if asyncio.iscoroutine(result):
                result = await result
        except ApiFailure as exc:
            return _error(exc)
        return web.json_response({"ok": True, "result": result})

    async def _download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        for file in self.files.values():
            if file.path == path and request.match_info["token"] == TOKEN:
                return web.Response(body=file.data)
        return web.Response(status=404, text="Not Found")

    # --- methods ----------------------------------------------------------------------------

    def _m_getMe(self, call: ApiCall) -> JSONDict:
        me = {"id": BOT_ID, "is_bot": True, "first_name": "Sticker Test", "username": BOT_USERNAME}
        return me | {"can_join_groups": True, "supports_inline_queries": True}

    async def _m_getUpdates(self, call: ApiCall) -> list[JSONDict]:
        offset = int(call.params.get("offset", 0) or 0)
        self.updates = [u for u in self.updates if u["update_id"] >= offset]
        if not self.updates:
            self._new_update.clear()
            wait = min(float(call.params.get("timeout", 0) or 0), 0.5)
            with contextlib.suppress(TimeoutError):  # long polling: an empty answer is fine
                await asyncio.wait_for(self._new_update.wait(), wait)
        return list(self.updates)

    def _m_true(self, call: ApiCall) -> bool:
        return True

    _m_deleteWebhook = _m_setMyCommands = _m_deleteMyCommands = _m_true
    _m_answerInlineQuery = _m_close = _m_logOut = _m_true

    def _message(self, chat_id: int, **content: Any) -> JSONDict:
        message_id = next(self._message_ids)
        bot = {"id": BOT_ID, "is_bot": True, "first_name": "Sticker Test"}
        message = {"message_id": message_id, "date": int(time.time()), "chat": chat(chat_id)}
        message |= {"from": bot} | content
        self.messages[(chat_id, message_id)] = message
        return message

    def _m_sendMessage(self, call: ApiCall) -> JSONDict:
        return self._message(int(call.params["chat_id"]), text=call.params["text"])

    def _m_editMessageText(self, call: ApiCall) -> JSONDict:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        if key not in self.messages:
            raise ApiFailure(400, "Bad Request: message to edit not found")
        if self.messages[key].get("text") == call.params["text"]:
            raise ApiFailure(400, "Bad Request: message is not modified")
        self.messages[key]["text"] = call.params["text"]
        return self.messages[key]

    def _m_deleteMessage(self, call: ApiCall) -> bool:
        key = (int(call.params["chat_id"]), int(call.params["message_id"]))
        if self.messages.pop(key, None) is None:
            raise ApiFailure(400, "Bad Request: message to delete not found")
        return True

    def _m_getStickerSet(self, call: ApiCall) -> JSONDict:
        if call.params["name"] not in self.sticker_sets:
            raise ApiFailure(400, "Bad Request: STICKERSET_INVALID")
        return self.sticker_sets[call.params["name"]]

    def _m_getFile(self, call: ApiCall) -> JSONDict:
        file = self.files.get(call.params["file_id"])
        if file is None:
            raise ApiFailure(400, "Bad Request: invalid file_id")
        return {
            "file_id": file.file_id,
            "file_unique_id": file.unique_id,
            "file_size": len(file.data),
            "file_path": file.path,
        }

    def _m_sendSticker(self, call: ApiCall) -> JSONDict:
        if "sticker" in call.files:
            data = call.files["sticker"]
            ext = call.params.get("sticker.filename", "x.webp").rsplit(".", 1)[-1]
            file = self.add_file(data, ext if ext in STICKER_EXT else "webp")
        elif call.params.get("sticker") in self.files:
            file = self.files[call.params["sticker"]]
            ext = file.path.rsplit(".", 1)[-1]
        else:
            raise ApiFailure(400, "Bad Request: wrong file identifier/HTTP URL specified")
        sticker = self.sticker_json(file, ext)
        return self._message(int(call.params["chat_id"]), sticker=sticker)


async def _parse(method: str, request: web.Request) -> ApiCall:
    """Parameters and files of a request: form, multipart or JSON, as Telegram accepts them."""
    call = ApiCall(method, {})
    if request.content_type == "application/json":
        body = await request.json()
        call.params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in body.items()}
        return call
    form = await request.post() if request.can_read_body else {}
    for key, value in form.items():
        if isinstance(value, web.FileField):
            call.files[key] = value.file.read()
            call.params[f"{key}.filename"] = value.filename
        else:
            call.params[key] = str(value)
    call.params |= {k: v for k, v in request.query.items() if k not in call.params}
    return call


def _error(exc: ApiFailure) -> web.Response:
    body = {"ok": False, "error_code": exc.code, "description": exc.description}
    return web.json_response(body, status=exc.code)
