"""Live analysis over the WebSocket: frames analysed per second per viewer and the round trip, for 1 and for 4
simultaneous viewers, against a real `fervid serve` on this machine.

    python benchmarks/bench_live.py [--seconds 20] [--viewers 1 4] [--method lstm] [--json docs/eval/live.json]

Each viewer behaves like the /live page: it sends a 640x480 JPEG (the astronaut drifting over a grey background,
pre-encoded here, so the client costs little CPU), waits for the result, and sends the next one at most at a
camera's 30 frames/s. The round trip is measured from sending a frame to receiving its result (the page adds its
JPEG encoding and drawing, a few ms). Server and clients share the machine's cores. Target (issue 18): p95 round
trip under 150 ms at 640x480 with one viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

CAMERA_FPS = 30.0


def frames(n: int = 60) -> list[bytes]:
    from fervid.samples import astronaut

    face = cv2.cvtColor(astronaut()[20:240, 120:330], cv2.COLOR_RGB2BGR)
    out = []
    for i in range(n):
        frame = np.full((480, 640, 3), 90, np.uint8)
        phase = 2 * np.pi * i / n
        x, y = int(200 + 120 * np.sin(phase)), int(120 + 40 * np.cos(phase))
        frame[y: y + face.shape[0], x: x + face.shape[1]] = face
        out.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes())
    return out


async def viewer(url: str, jpegs: list[bytes], seconds: float) -> dict:
    import websockets

    rtts, faces = [], 0
    async with websockets.connect(url, max_size=2**22) as ws:
        ready = json.loads(await ws.recv())
        started = time.perf_counter()
        seq = 0
        while time.perf_counter() - started < seconds:
            seq += 1
            sent = time.perf_counter()
            await ws.send(struct.pack("<I", seq) + jpegs[seq % len(jpegs)])
            result = json.loads(await ws.recv())
            rtts.append(1000 * (time.perf_counter() - sent))
            faces += len(result["faces"])
            wait = 1 / CAMERA_FPS - (time.perf_counter() - sent)
            if wait > 0:
                await asyncio.sleep(wait)
        elapsed = time.perf_counter() - started
        await ws.send(json.dumps({"type": "stop", "save": False}))
        await ws.recv()
    return {"frames": len(rtts), "fps": len(rtts) / elapsed, "faces_per_frame": faces / max(len(rtts), 1),
            "rtt_p50_ms": float(np.percentile(rtts, 50)), "rtt_p95_ms": float(np.percentile(rtts, 95)),
            "method": ready["method"]}


def serve(data_dir: Path, method: str) -> tuple[subprocess.Popen, int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port), "--data-dir",
                             str(data_dir), "--method", method], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return proc, port
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("fervid serve did not start")


def main() -> None:
    from fervid.machine import cpu_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--viewers", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--method", default="lstm")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    jpegs = frames()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = serve(Path(tmp), args.method)
        url = f"ws://127.0.0.1:{port}/v1/live"
        try:
            asyncio.run(viewer(url, jpegs, 2.0))  # warm-up: the models load on the first viewer
            for n in args.viewers:
                async def together():
                    return await asyncio.gather(*(viewer(url, jpegs, args.seconds) for _ in range(n)))
                per = asyncio.run(together())
                rows.append({"viewers": n, "fps_per_viewer": float(np.mean([v["fps"] for v in per])),
                             "rtt_p50_ms": float(np.median([v["rtt_p50_ms"] for v in per])),
                             "rtt_p95_ms": float(np.max([v["rtt_p95_ms"] for v in per])),
                             "frames": int(sum(v["frames"] for v in per)), "method": per[0]["method"]})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    print(f"\nCPU: {cpu_model()}, 2 cores shared by server and clients; 640x480 JPEG frames, one face, "
          f"{args.method}; each viewer at most {CAMERA_FPS:g} frames/s, one frame in flight\n")
    print("| viewers | frames analysed / s per viewer | round trip p50 (ms) | p95 (ms, worst viewer) |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['viewers']} | {r['fps_per_viewer']:.1f} | {r['rtt_p50_ms']:.0f} | {r['rtt_p95_ms']:.0f} |")
    write_json(args.json, {"cpu": cpu_model(), "seconds": args.seconds, "rows": rows})


if __name__ == "__main__":
    main()
