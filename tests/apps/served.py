"""A real ``fervid serve`` process on a free loopback port, shared by the server and browser tests."""

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import imageio_ffmpeg
import pytest


# `fervid serve` answers /healthz 2.2 s after starting here, with a training run busy on both cores; but one CI run
# in a fresh clone (cold file cache, first byte-compilation) failed a fixed 30 s wait, cause not reproduced.
# A generous deadline costs nothing when the server is up sooner.
SERVER_START_S = 120


def wait_done(client, job_id: str, timeout: float = 60) -> dict:
    """The job's state once it has ended (done or failed), asked through ``client`` (a TestClient) every 0.2 s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        state = client.get(f"/v1/jobs/{job_id}").json()
        if state["status"] in ("done", "failed"):
            return state
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not end within {timeout} s")


def long_clip(path: Path, source: Path, seconds: float = 12.0) -> Path:
    """A clip long enough to stop a server in the middle of analysing it, or to keep its worker busy while another
    video waits (``source``, looped: the tests' `face_clip`, or carphone)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    subprocess.run([ffmpeg, "-loglevel", "error", "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
                    "-vf", "scale=352:288", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    str(path)], check=True)
    return path


@contextmanager
def fervid_server(data_dir: Path, *args: str, env: dict | None = None, own_process_group: bool = False):
    """``fervid serve --data-dir data_dir *args`` in a child process; yields ``(url, process)`` once /healthz
    answers, and stops (or kills) it when the block ends. ``own_process_group``: the server and what it starts in
    a process group of their own (as a systemd service's or a terminal's foreground job), which a test can signal
    as a whole (os.killpg(process.pid, ...)) without signalling pytest.

    Its output is appended to ``data_dir/serve.log``, not a pipe: a pipe nobody reads fills up with the server's
    request log and blocks it mid-test. A server that exits before answering fails the test at once, with its log."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / "serve.log"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port),
                                 "--data-dir", str(data_dir), *args], stdout=log, stderr=subprocess.STDOUT,
                                env={**os.environ, **(env or {})}, start_new_session=own_process_group)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            try:
                urllib.request.urlopen(url + "/healthz", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"fervid serve exited with code {proc.returncode}: {log_path.read_text()}")
                if time.monotonic() > deadline:
                    pytest.fail(f"fervid serve did not answer within {SERVER_START_S} s: {log_path.read_text()}")
                time.sleep(0.2)
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


@contextmanager
def prefix_proxy(upstream: str, prefix: str, forward_host: bool = False):
    """A tiny reverse proxy serving ``upstream`` (``http://127.0.0.1:PORT``) under ``prefix``, as nginx's
    ``location /fervid/ { proxy_pass http://127.0.0.1:PORT/; }`` does (with the WebSocket upgrade headers passed on):
    the prefix is stripped, the Host becomes the upstream's (nginx's default; ``forward_host``: the client's, as with
    ``proxy_set_header Host $http_host``), anything outside the prefix is a 404. Yields its URL.

    One request per connection (it answers ``Connection: close``), so that each request line is rewritten; a
    WebSocket is piped both ways once its handshake is forwarded."""
    up_host, up_port = upstream.split("//", 1)[1].rsplit(":", 1)
    loop = asyncio.new_event_loop()

    async def pipe(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def handle(reader, writer):
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        request_line, *lines = head.rstrip("\r\n").split("\r\n")
        method, target, version = request_line.split(" ", 2)
        if not target.startswith(prefix + "/"):
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
            writer.close()
            return
        upgrade = any(line.lower().startswith("upgrade:") for line in lines)
        dropped = ("connection:", "keep-alive:") if forward_host else ("host:", "connection:", "keep-alive:")
        kept = [line for line in lines if not line.lower().startswith(dropped)]
        headers = [*([] if forward_host else [f"Host: {up_host}:{up_port}"]),
                   "Connection: upgrade" if upgrade else "Connection: close", *kept]
        up_reader, up_writer = await asyncio.open_connection(up_host, int(up_port))
        up_writer.write("\r\n".join([f"{method} {target[len(prefix):]} {version}", *headers, "", ""]).encode("latin-1"))
        to_upstream = asyncio.create_task(pipe(reader, up_writer))
        await pipe(up_reader, writer)
        to_upstream.cancel()

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = threading.Event()

    def run():
        asyncio.set_event_loop(loop)
        server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", port))
        started.set()
        loop.run_forever()
        server.close()
        tasks = asyncio.all_tasks(loop)  # connections still open: ended here, not left to the garbage collector
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(asyncio.sleep(0.1))  # the closed transports' last callbacks
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(10)
    try:
        yield f"http://127.0.0.1:{port}{prefix}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
