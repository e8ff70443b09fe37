"""The console's web server: aiohttp on its own thread and event loop, beside the control loop.

Reading is open: anyone who can reach the port sees the page (bind to 127.0.0.1, the default,
to keep it on this computer). Control (E-STOP, continue) needs the token printed at start. The
token travels in a request header, never in a cookie, so another web site the phone visits
cannot make the browser send it; and a control request whose Origin is not this server's own is
refused as well. The page reads the token from the address's fragment (`#token=...`), which
browsers never send to a server, and keeps it in the tab's session storage.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import secrets
import threading
from dataclasses import asdict
from importlib import resources
from typing import Protocol

from aiohttp import WSMsgType, web

from fastrlap.console.feed import TrackMap
from fastrlap.console.remote import RemoteStop
from fastrlap.errors import FastrlapError

TOKEN_HEADER = "X-Fastrlap-Token"
PUSH_PERIOD_S = 0.2  # figures pushed to each open page this often
STATIC_FILES = {"console.js": "text/javascript", "console.css": "text/css"}


class ConsolePortError(FastrlapError):
    """The console's port cannot be opened (taken by another program, or not allowed)."""


class Source(Protocol):
    """Where the page's figures come from: a live session (ConsoleFeed) or a finished run."""

    track: TrackMap

    def snapshot(self) -> dict: ...
    def camera_jpeg(self) -> bytes | None: ...


def new_token() -> str:
    return secrets.token_urlsafe(16)


def _static(name: str) -> bytes:
    return resources.files("fastrlap.console").joinpath("static", name).read_bytes()


class ConsoleServer:
    """Serves the page for `source`; `remote`, when given, is the latch E-STOP and continue set."""

    def __init__(
        self, source: Source, host: str, port: int, remote: RemoteStop | None = None, token: str | None = None
    ) -> None:
        self.source = source
        self.host = host
        self.port = port
        self.remote = remote
        self.token = token or new_token()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def control_url(self) -> str:
        """The address that also carries the token (the page picks it up from the fragment)."""
        return f"{self.url}#token={self.token}"

    # ------------------------------------------------------------------ handlers
    def _app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/", self._index)
        app.router.add_get("/static/{name}", self._file)
        app.router.add_get("/api/state", self._state)
        app.router.add_get("/api/track", self._track)
        app.router.add_get("/camera.jpg", self._camera)
        app.router.add_get("/ws", self._ws)
        app.router.add_post("/api/estop", self._estop)
        app.router.add_post("/api/continue", self._continue)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=_static("index.html"), content_type="text/html", headers={"Cache-Control": "no-store"})

    async def _file(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(body=_static(name), content_type=STATIC_FILES[name])

    def _figures(self) -> dict:
        return {**self.source.snapshot(), "control": self.remote is not None}

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response(self._figures())

    async def _track(self, request: web.Request) -> web.Response:
        return web.json_response(asdict(self.source.track))

    async def _camera(self, request: web.Request) -> web.Response:
        jpeg = await asyncio.get_running_loop().run_in_executor(None, self.source.camera_jpeg)
        if jpeg is None:
            raise web.HTTPNotFound(text="no camera frame yet")
        return web.Response(body=jpeg, content_type="image/jpeg", headers={"Cache-Control": "no-store"})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(heartbeat=5.0)
        await ws.prepare(request)
        while not ws.closed:
            await ws.send_str(json.dumps(self._figures()))
            try:
                msg = await ws.receive(timeout=PUSH_PERIOD_S)
            except asyncio.TimeoutError:
                continue
            if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break
        return ws

    def _refusal(self, request: web.Request) -> web.Response | None:
        """Why a control request is refused (a response to send), or None when it may act."""
        if self.remote is None:
            return web.json_response({"error": "read-only: this console replays a finished run"}, status=403)
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"{request.scheme}://{request.host}":
            return web.json_response({"error": f"cross-origin request from {origin} refused"}, status=403)
        given = request.headers.get(TOKEN_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.json_response(
                {"error": f"control needs the token printed at start ({TOKEN_HEADER} header)"}, status=401
            )
        return None

    async def _estop(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        self.remote.stop()
        return web.json_response({"estop": True})

    async def _continue(self, request: web.Request) -> web.Response:
        refused = self._refusal(request)
        if refused is not None:
            return refused
        return web.json_response({"estop": False, "released": self.remote.release()})

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> ConsoleServer:
        """Open the port and serve from a daemon thread; a port that cannot be opened is one line."""
        started = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            runner = web.AppRunner(self._app(), access_log=None)
            try:
                loop.run_until_complete(runner.setup())
                site = web.TCPSite(runner, self.host, self.port)
                loop.run_until_complete(site.start())
                self.port = runner.addresses[0][1]  # the port the system chose when asked for 0
            except OSError as e:
                failure.append(e)
                loop.run_until_complete(runner.cleanup())
                started.set()
                return
            self._runner = runner
            started.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=serve, name="fastrlap-console", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            raise ConsolePortError(
                f"console: cannot listen on {self.host}:{self.port} ({failure[0].strerror}); "
                f"pick another port with console.port=<n>, or console.port=0 to turn it off"
            )
        return self

    def close(self) -> None:
        """Stop serving (open pages see the link drop); safe to call twice."""
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=5.0)

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()
