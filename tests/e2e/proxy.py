"""A small HTTP/1.1 proxy between the browser and the server, for failures a real network has:
a response lost after the server committed, an upstream answering 500. It also counts the
bytes sent to the browser, which is what a phone pays for on a metered 2G link."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field


@dataclass
class Fault:
    method: str
    path_prefix: str
    mode: str  # "drop" (forward, then lose the response) or "500" (answer 500 unforwarded)
    times: int


@dataclass
class Proxy:
    upstream_port: int
    port: int = 0
    faults: list[Fault] = field(default_factory=list)
    bytes_to_client: int = 0
    requests: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            await self._server.wait_closed()

    def reset_count(self) -> None:
        self.bytes_to_client = 0
        self.requests.clear()

    def _fault_for(self, method: str, path: str) -> Fault | None:
        for fault in self.faults:
            if fault.times > 0 and method == fault.method and path.startswith(fault.path_prefix):
                fault.times -= 1
                return fault
        return None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                length = 0
                kept = [lines[0]]
                for line in lines[1:]:
                    if not line:
                        continue
                    name = line.split(":", 1)[0].strip().lower()
                    if name == "content-length":
                        length = int(line.split(":", 1)[1])
                    if name in {"connection", "keep-alive"}:
                        continue
                    kept.append(line)
                body = await reader.readexactly(length) if length else b""
                self.requests.append(f"{method} {path}")
                fault = self._fault_for(method, path)
                if fault and fault.mode == "500":
                    await self._send(writer, b"HTTP/1.1 500 Internal Server Error\r\n"
                                             b"content-length: 0\r\nconnection: close\r\n\r\n")
                    return
                request = ("\r\n".join([*kept, "connection: close"]) + "\r\n\r\n").encode(
                    "latin-1") + body
                try:
                    up_reader, up_writer = await asyncio.open_connection("127.0.0.1",
                                                                         self.upstream_port)
                except OSError:
                    return  # upstream down: the browser sees the connection drop
                up_writer.write(request)
                await up_writer.drain()
                response = await up_reader.read()
                up_writer.close()
                if fault and fault.mode == "drop":
                    return  # the server did the work; the browser never hears of it
                # Tell the browser this connection ends here: one request per connection.
                response = response.replace(b"\r\n\r\n", b"\r\nconnection: close\r\n\r\n", 1)
                await self._send(writer, response)
                return
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(data)
        await writer.drain()
        self.bytes_to_client += len(data)
