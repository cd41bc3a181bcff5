"""Live analysis over a WebSocket (``/v1/live`` on ``fervid serve``, drawn by the ``/live`` page).

Protocol. The server first sends ``{"type": "ready", ...}`` (method, window, the labels' delay
``labels_delay_seconds``, the limits).
The client sends frames as binary messages: a 4-byte little-endian sequence number, then one JPEG or WebP image.
For each frame it analyses the server answers ``{"type": "result", "seq", "time", "width", "height", "faces":
[rows], "dropped", "analysis_ms", "dark"}``, where each row is a row of a video's per-frame table (``time, frame,
track``, the face columns: box, detection score, 7 probabilities, emotion, confidence, uncertain, then
``detected``) + the face's 5 ``landmarks`` (null where the server leaves them out: ``landmarks`` false in the
``ready`` message), and ``dark`` says the picture was dark and analysed on its levels
stretched (:func:`fervid.inference.align.stretch_dark_levels`). The server never queues behind:
it keeps only the newest frame that arrived while it was busy (newest wins) and counts the others as dropped.
A text message ``{"type": "stop", "save": true}`` ends the session; with ``save`` the session's recording (the
per-frame table, per-track JSON, timelines, key frames) becomes a finished video job, answered with
``{"type": "saved", "job_id", "result_url", "links", "expires_at"}`` (when the server deletes the job: its
finished jobs' time to live, ``--job-ttl-hours``). A malformed message, an oversized frame or a flood of
frames gets ``{"type": "error", "error"}`` and the connection is closed with a WebSocket code and reason.

Each connection has its own tracks (a :class:`fervid.inference.video.FrameStream` with causal windows: a label
describes the last ``window`` seconds, so it trails a change of expression by about half of it, more for the
LSTM, whose outputs are averaged once more).
"""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TypedDict

import cv2
import numpy as np

from fervid.inference.records import TIME_DECIMALS
from fervid.inference.set_aside import replace_retrying
from fervid.inference.temporal import labels_delay
from fervid.inference.video import (FrameStream, OutputNames, ResultWriter, VideoAnalyzer, VideoResult,
                                    wall_clock_now)

LIVE_STEM = "live"  # the recording's file names: live_frames.csv, live_tracks.json, ...


class LiveProtocolError(ValueError):
    """A message this protocol does not accept; ``code`` is the WebSocket close code to answer it with."""

    def __init__(self, message: str, code: int = 1007):
        super().__init__(message)
        self.code = code


class _SessionState(TypedDict):
    """What a live session's receiver and its analysis loop share."""

    dropped: int  # frames replaced by a newer one before they were analysed
    stop: dict | None  # the viewer's stop command (or its going): {"save": ..., "gone": ...}
    error: LiveProtocolError | None


@dataclass(frozen=True)
class LiveLimits:
    max_frame_bytes: int = 1_000_000  # one encoded frame (a 1280x720 JPEG at quality 0.8 is ~150 kB)
    max_frame_pixels: int = 1920 * 1080  # decoded size, checked from the header before decoding
    max_messages_per_second: float = 60.0  # averaged over 2 s; a camera sends at most 30
    max_viewers: int = 8  # connections at once; more are refused (1013, try again later)


def check_frame(data: bytes, limits: LiveLimits) -> int:
    """The sequence number of one binary frame message, after checking its size and image header (cheap: no
    pixel is decoded); raises :class:`LiveProtocolError`."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > limits.max_frame_bytes:
        raise LiveProtocolError(f"frame of {len(data):,} bytes; at most {limits.max_frame_bytes:,}", 1009)
    if len(data) < 5:
        raise LiveProtocolError("a frame is a 4-byte sequence number followed by a JPEG or WebP image")
    (seq,) = struct.unpack("<I", data[:4])
    try:  # the header alone: a small file declaring a huge image costs nothing
        with Image.open(io.BytesIO(data[4:])) as im:
            width, height, kind = im.width, im.height, im.format
    except (UnidentifiedImageError, OSError, ValueError):
        raise LiveProtocolError(f"frame {seq}: not a JPEG or WebP image") from None
    if kind not in ("JPEG", "WEBP"):
        raise LiveProtocolError(f"frame {seq}: a {kind} image; send JPEG or WebP")
    if width * height > limits.max_frame_pixels:
        raise LiveProtocolError(f"frame {seq}: {width}x{height} is larger than {limits.max_frame_pixels:,} pixels; "
                                "downscale it", 1009)
    return seq


def decode_frame(data: bytes) -> np.ndarray:
    """The BGR image of a checked frame message."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8, offset=4), cv2.IMREAD_COLOR)
    if image is None:
        raise LiveProtocolError("the frame's image could not be decoded (truncated?)")
    return image


class LiveSession:
    """One viewer: its own tracks, causal labels, and a recording streamed to ``record_dir`` as it goes."""

    def __init__(self, runner: VideoAnalyzer, record_dir: Path, slots: threading.Semaphore, landmarks: bool = True):
        self.record_dir = record_dir
        self.landmarks = landmarks  # each face's in the messages; False: null (PipelineOptions.landmarks)
        self.slots = slots  # shared by all viewers and image requests: analyses at once, whatever the load
        self.started = time.monotonic()  # the frames' time 0, by the wall clock the result's started_at
        self.frames = 0
        self.result = runner.new_result(f"{LIVE_STEM}.mp4", fps=15.0, started_at=wall_clock_now())
        self.stream: FrameStream = runner.stream(self.result.fps)
        self.result.stage_seconds = self.stream.stages
        self.result.scene_cuts, self.result.scene_cut_tracks = self.stream.cut_times, self.stream.cut_tracks
        self.result.replaced_faces = self.stream.tracker.replaced_faces
        self.writer = ResultWriter(self.result, record_dir, annotate=False)

    def analyse(self, seq: int, data: bytes) -> dict:
        """Decode and analyse one checked frame message (in a worker thread); its faces' rows."""
        t = time.monotonic() - self.started
        image = decode_frame(data)
        with self.slots:
            t0 = time.perf_counter()
            done = self.stream.push(t, self.frames, image)
            elapsed = time.perf_counter() - t0
        self.result.seconds += elapsed  # analysis time, not the session's length
        self.writer.write(done)
        self.frames += 1
        r = self.result
        r.frames_read = r.frames_analysed = self.frames
        r.duration = t
        r.height, r.width = image.shape[:2]
        faces = [{**f.table_row(), "landmarks": [[round(x, 1), round(y, 1)] for x, y in f.landmarks]
                  if self.landmarks else None} for frame in done for f in frame.faces]
        return {"type": "result", "seq": seq, "time": round(t, TIME_DECIMALS), "width": image.shape[1],
                "height": image.shape[0], "faces": faces, "analysis_ms": round(1000 * elapsed, 1),
                "dark": self.stream.brightening}

    def finish(self) -> VideoResult:
        """End the recording and write its outputs (table, per-track JSON, timelines, key frames)."""
        t0 = time.perf_counter()
        self.writer.write(self.stream.finish())
        self.writer.close()
        self.result.seconds += time.perf_counter() - t0
        self.result.frames_brightened = self.stream.frames_brightened
        if self.result.frames_analysed:
            self.result.fps = self.result.frames_analysed / max(self.result.duration, 1e-6)
        self.result.save(self.record_dir)
        return self.result

    def discard(self) -> None:
        self.writer.close()
        shutil.rmtree(self.record_dir, ignore_errors=True)


async def serve_live(ws, runner: VideoAnalyzer, store, slots: threading.Semaphore, limits: LiveLimits,
                     viewers: dict, job_ttl_hours: float, landmarks: bool = True) -> None:
    """Run one ``/v1/live`` connection (``ws``: a Starlette WebSocket, not yet accepted); a session saved is a job
    deleted ``job_ttl_hours`` after it is saved, as the server's other finished jobs are. ``landmarks`` false: each
    face's are null in the messages (:attr:`fervid.inference.options.PipelineOptions.landmarks`)."""
    from anyio import to_thread
    from starlette.websockets import WebSocketDisconnect

    await ws.accept()
    if len(viewers) >= limits.max_viewers:
        await _refuse(ws, f"{len(viewers)} viewers already; at most {limits.max_viewers}", 1013)
        return
    key = uuid.uuid4().hex
    session = LiveSession(runner, store.make_folder(f".live-{key}"), slots, landmarks)  # private (0700), as a job's
    viewers[key] = session
    latest: list = []  # the newest frame not yet analysed: newest wins
    arrived = asyncio.Event()
    state: _SessionState = {"dropped": 0, "stop": None, "error": None}
    opts = runner.options
    await ws.send_json({"type": "ready", "method": runner.temporal.name, "window": opts.window,
                        "detect_every": opts.detect_every,
                        # as the session's tracks JSON records it
                        "labels_delay_seconds": labels_delay(runner.temporal.name, opts.window),
                        "model": session.result.model, "detector": session.result.detector,
                        "landmarks": landmarks,  # false: each face's are null (`fervid serve --no-landmarks`)
                        "limits": {"max_frame_bytes": limits.max_frame_bytes,
                                   "max_frame_pixels": limits.max_frame_pixels,
                                   "max_messages_per_second": limits.max_messages_per_second}})

    async def receive() -> None:
        recent: list[float] = []
        try:
            while state["stop"] is None:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    state["stop"] = {"save": False, "gone": True}
                    break
                now = time.monotonic()
                recent[:] = [t for t in recent if now - t < 2.0] + [now]
                if len(recent) > 2 * limits.max_messages_per_second:
                    raise LiveProtocolError(f"more than {limits.max_messages_per_second:g} messages per second",
                                            1008)
                if message.get("bytes") is not None:
                    seq = check_frame(message["bytes"], limits)
                    if latest:
                        state["dropped"] += 1
                        latest.clear()
                    latest.append((seq, message["bytes"]))
                else:
                    state["stop"] = _parse_command(message.get("text") or "")
                arrived.set()
        except LiveProtocolError as exc:
            state["error"] = exc
        except WebSocketDisconnect:
            state["stop"] = {"save": False, "gone": True}
        arrived.set()

    receiver = asyncio.create_task(receive())
    try:
        while True:
            # wait only when there is nothing to do: a stop that came in while a frame was being analysed, with
            # the newest frame still queued, is seen here after that frame (the receiver has ended by then and
            # would never wake a wait again)
            if not latest and state["error"] is None and state["stop"] is None:
                await arrived.wait()
                arrived.clear()
                continue
            if state["error"] is not None or not latest:
                break
            seq, data = latest.pop()
            try:
                reply = await to_thread.run_sync(session.analyse, seq, data)
            except LiveProtocolError as exc:
                state["error"] = exc
                break
            reply["dropped"] = state["dropped"]
            await ws.send_json(reply)
        if state["error"] is not None:
            await _refuse(ws, str(state["error"]), state["error"].code)
            session.discard()
            return
        stop = state["stop"]
        assert stop is not None, "the loop ends on an error or a stop"
        if stop.get("gone"):
            session.discard()
            return
        if stop.get("save"):
            prefix = ws.scope.get("root_path", "").rstrip("/")  # a reverse proxy's path prefix (--root-path)
            await ws.send_json(await to_thread.run_sync(_save, session, store, job_ttl_hours, prefix))
        else:
            session.discard()
            await ws.send_json({"type": "stopped"})
        await ws.close(1000)
    except WebSocketDisconnect:
        session.discard()
    finally:
        receiver.cancel()
        viewers.pop(key, None)


def _parse_command(text: str) -> dict:
    try:
        command = json.loads(text)
    except json.JSONDecodeError:
        raise LiveProtocolError("a text message must be JSON, e.g. {\"type\": \"stop\", \"save\": true}") from None
    if not isinstance(command, dict) or command.get("type") != "stop":
        raise LiveProtocolError("the only command is {\"type\": \"stop\", \"save\": true|false}")
    save = command.get("save", False)
    if not isinstance(save, bool):  # "save": "false" is a non-empty string: truthy, it kept what was to be discarded
        raise LiveProtocolError(f"save must be true or false (JSON booleans), not {json.dumps(save)[:40]}")
    return {"save": save}


async def _refuse(ws, reason: str, code: int) -> None:
    await ws.send_json({"type": "error", "error": reason})
    await ws.close(code, reason=reason[:120])  # a close reason is at most 123 bytes


def expires_at(ended: float, job_ttl_hours: float) -> str:
    """When the server deletes a job that ended (was saved) at Unix time ``ended``: its finished jobs' time to live
    later, in ISO 8601 with the server's UTC offset (the pages show it in the viewer's own time)."""
    return datetime.fromtimestamp(ended + job_ttl_hours * 3600, timezone.utc).astimezone().isoformat(timespec="seconds")


def _save(session: LiveSession, store, job_ttl_hours: float, prefix: str = "") -> dict:
    """The recording becomes a finished video job (the jobs API serves it like an uploaded video's), deleted
    ``job_ttl_hours`` later (``expires_at``, said to the page); its links start with ``prefix``, the path a reverse
    proxy serves fervid under (--root-path)."""
    result = session.finish()
    job_id = uuid.uuid4().hex
    folder = store.make_folder(job_id)
    replace_retrying(session.record_dir, folder / "out")  # (tried again while Windows' scanner holds a file a moment)
    store.make_private(folder)  # written by the server's threads under the process's umask: 0600 as an upload's outputs
    saved = time.time()
    store.write(job_id, id=job_id, status="done", progress=1.0, created=saved, finished=saved,
                input=None, filename="live session", error=None, stem=LIVE_STEM, live=True,
                started_at=result.started_at)
    base, names = f"{prefix}/v1/jobs/{job_id}/files/", OutputNames(LIVE_STEM)
    return {"type": "saved", "job_id": job_id, "result_url": f"{prefix}/v1/jobs/{job_id}/result",
            "frames": result.frames_analysed, "tracks": len(result.track_ids),
            # when the server deletes it (its finished jobs' time to live): the page says so, not to lose it unsaid
            "expires_at": expires_at(saved, job_ttl_hours),
            "links": {"frames_csv": base + names.frames_csv, "frames_parquet": base + names.frames_parquet,
                      "tracks_json": base + names.tracks_json}}
