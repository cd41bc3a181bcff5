"""Load on a local `fervid serve`: 200 concurrent image requests, and /healthz latency during a video job.

    python benchmarks/bench_server_load.py [--requests 200] [--concurrency 200]

Starts its own server on 127.0.0.1 (a free port, a temporary data dir), sends the astronaut photo from
``--concurrency`` client threads at once, and reports latency percentiles and errors, and /healthz latency
polled every 100 ms during that load; then queues the carphone video and polls /healthz every 50 ms while the job
runs. Traffic stays on this machine; the CPU is printed.
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import os
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from PIL import Image

from fervid.machine import cpu_model
from fervid.samples import astronaut
from fervid.inference.video import sample_video


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()

    buf = io.BytesIO()
    Image.fromarray(astronaut()).save(buf, "JPEG", quality=90)
    photo = buf.getvalue()
    carphone = sample_video()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory() as tmp:
        server = subprocess.Popen([sys.executable, "-m", "fervid.apps.cli", "serve", "--port", str(port), "--data-dir", tmp],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(150):
                try:
                    httpx.get(url + "/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.2)
            httpx.post(url + "/v1/images", files={"files": ("a.jpg", photo, "image/jpeg")}, timeout=60)  # warm-up

            def one(_):
                t0 = time.perf_counter()
                try:
                    r = httpx.post(url + "/v1/images", files={"files": ("a.jpg", photo, "image/jpeg")}, timeout=300)
                    ok = r.status_code == 200 and r.json()["files"][0]["faces"][0]["emotion"] == "happy"
                except Exception:
                    ok = False
                return time.perf_counter() - t0, ok

            under_load, stop = [], threading.Event()

            def probe():  # /healthz while the image requests are in flight
                with httpx.Client(base_url=url) as client:
                    while not stop.wait(0.1):
                        t1 = time.perf_counter()
                        client.get("/healthz", timeout=30)
                        under_load.append((time.perf_counter() - t1) * 1000)

            prober = threading.Thread(target=probe)
            t0 = time.perf_counter()
            prober.start()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(one, range(args.requests)))
            wall = time.perf_counter() - t0
            stop.set()
            prober.join()
            lat = sorted(r[0] * 1000 for r in results)
            errors = sum(not r[1] for r in results)
            pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
            print(f"{args.requests} image requests, {args.concurrency} concurrent: {errors} errors, "
                  f"{args.requests / wall:.1f} requests/s")
            print("| p50 | p90 | p99 | max |\n|---|---|---|---|")
            print(f"| {pct(0.5):.0f} ms | {pct(0.9):.0f} ms | {pct(0.99):.0f} ms | {lat[-1]:.0f} ms |")
            print(f"/healthz during the image load: {len(under_load)} probes, median "
                  f"{statistics.median(under_load):.1f} ms, p90 {sorted(under_load)[int(0.9 * len(under_load))]:.1f} "
                  f"ms, max {max(under_load):.1f} ms (CPU: {cpu_model()}, {os.cpu_count()} cores)")

            job = httpx.post(url + "/v1/videos", files={"file": ("c.mp4", carphone.read_bytes(), "video/mp4")},
                             timeout=60).json()
            health = []
            while True:
                t1 = time.perf_counter()
                httpx.get(url + "/healthz", timeout=5)
                health.append((time.perf_counter() - t1) * 1000)
                if httpx.get(url + f"/v1/jobs/{job['job_id']}", timeout=5).json()["status"] in ("done", "failed"):
                    break
                time.sleep(0.05)
            print("probe latencies (ms):", " ".join(f"{h:.0f}" for h in health))
            print(f"\n/healthz during a video job: {len(health)} probes, median {statistics.median(health):.1f} ms, "
                  f"max {max(health):.1f} ms (target < 100 ms)")
        finally:
            server.terminate()
            server.wait(timeout=20)


if __name__ == "__main__":
    main()
