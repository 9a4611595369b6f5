"""A downstream service for the client's tests: a raw HTTP/1.1 server on 127.0.0.1 that answers from a
script of faults, and a test-only blueprint that relays requests to it through `service("downstream")`.

The server is written on asyncio's streams, not on a framework, so that it can do what real servers
do on bad days: hang, reset the connection, answer slowly or in something that is not HTTP. It
records what it received (headers included) and when, and how many connections are open.

`hypercorn 'myservice.tests.downstream:create_calls_app()'` serves the relay for the real-process
tests, with the downstream's URL in MYSERVICE_SERVICES__DOWNSTREAM__URL.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass, field
from http import HTTPStatus

from quart import Blueprint, Quart, request

from myservice import create_app
from myservice.client import service
from myservice.views import find_blueprints

from .tokens import open_to_anyone

NAME = "downstream"  # the service's name in the SERVICES setting
Writer = asyncio.StreamWriter
Fault = Callable[["Received", asyncio.StreamReader, Writer], Awaitable[bool]]  # True: keep the connection

calls = Blueprint("calls", __name__, url_prefix="/calls")


@calls.route("/<path:path>", methods=["GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"])
async def relay(path: str) -> tuple[dict[str, object], int]:
    """Send this request's method, path, body and Idempotency-Key on to the downstream; say what it answered."""
    key = request.headers.get("Idempotency-Key")
    headers = {"Idempotency-Key": key} if key else {}
    answer = await service(NAME).request(request.method, path, content=await request.get_data(), headers=headers)
    return {"status": answer.status_code, "body": answer.text}, 200


def create_calls_app(settings: dict[str, object] | None = None) -> Quart:
    """The service plus the relay; SERVICES comes from `settings`, or from the environment."""
    return open_to_anyone(create_app(blueprints=[*find_blueprints(), calls], settings=settings), calls)


@dataclass
class Received:
    """A request the downstream read: its line, headers (names in lower case), body, and when it came."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # the event loop's time


def answer(status: int, body: bytes = b"{}", headers: dict[str, str] | None = None, after: float = 0) -> Fault:
    """Answer `status` with `body`, after `after` seconds; the connection stays open."""

    async def fault(received: Received, reader: asyncio.StreamReader, writer: Writer) -> bool:
        await asyncio.sleep(after)
        head = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (b"" if received.method == "HEAD" else body))
        await writer.drain()
        return True

    return fault


async def hang(received: Received, reader: asyncio.StreamReader, writer: Writer) -> bool:
    """Never answer: wait until the client closes the connection (or the server stops)."""
    await reader.read()
    return False


async def reset(received: Received, reader: asyncio.StreamReader, writer: Writer) -> bool:
    """Reset the connection (RST, not FIN) without answering."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
    return False


async def malformed(received: Received, reader: asyncio.StreamReader, writer: Writer) -> bool:
    """Answer something that is not HTTP, then close."""
    writer.write(b"SURPRISE 42\r\n\r\n")
    await writer.drain()
    return False


@dataclass
class Downstream:
    """The server: `script` holds the next answers (faults), in order; once it is empty, 200 `{}`."""

    script: list[Fault] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    open_connections: int = 0
    port: int = 0
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        """The base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and end every connection, hung ones included."""
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    def waits(self) -> list[float]:
        """The seconds between one request received and the next."""
        return [later.at - earlier.at for earlier, later in zip(self.received, self.received[1:], strict=False)]

    async def _connection(self, reader: asyncio.StreamReader, writer: Writer) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.open_connections += 1
        try:
            while (received := await self._read(reader)) is not None:
                self.received.append(received)
                fault = self.script.pop(0) if self.script else answer(200)
                if not await fault(received, reader, writer):
                    break
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass  # the client went away mid-request
        finally:
            self.open_connections -= 1
            self._tasks.discard(task)
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()

    async def _read(self, reader: asyncio.StreamReader) -> Received | None:
        """The next request on the connection, or None when the client has closed it."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return None
        line, *fields = head.decode("latin-1").split("\r\n")[:-2]
        method, path, _ = line.split(" ", 2)
        headers = {name.strip().lower(): value.strip() for name, _, value in (f.partition(":") for f in fields)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return Received(method, path, headers, body, asyncio.get_running_loop().time())
