"""The annotated MP4's encoder settings (x264's preset and CRF): encoder CPU, file size and picture quality.

    python benchmarks/bench_annotated_encoding.py [--sizes 640x480 1920x1080] [--rounds 2]
        [--json docs/eval/annotated_encoding.json]

Each clip is analysed once with the default settings, and the frames `fervid video` hands its encoder (boxes,
labels and bars drawn; the carphone sample's enlarged to 432 rows) are kept. They are then encoded with each
setting through fervid's own writer (H264Writer: yuv420p, faststart), the rounds alternating between settings,
and the MP4 decoded back (OpenCV) and compared with them on grey levels: SSIM and PSNR over whole frames, and
SSIM over the drawn overlays alone (the pixels annotate() changed, widened by 2 px: the labels' text, boxes and
bars), which is where legibility is lost first. CPU is the ffmpeg encoder's own (the CPU of the child process,
H264Writer.encoder_cpu_seconds), the fastest of the rounds.

Clips: the bundled carphone sample (176x144, 120 frames, 29.97 fps, a person talking in a moving car), and the
same scene scaled to each ``--sizes`` (Lanczos) and looped to 360 frames.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import fervid.inference.video as video_module
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import ANNOTATED_CRF, ANNOTATED_PRESET, H264Writer, VideoAnalyzer, VideoOptions
from fervid.machine import cpu_model
from fervid.samples import carphone
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

SETTINGS = (("veryfast", 23), ("superfast", 26), ("ultrafast", 28))
LOOPED_FRAMES = 360


class FedFrames:
    """The frames `fervid video` hands its annotated MP4's encoder, kept in a raw file (a 1080p clip's do not fit
    in memory), with the overlay pixels of each (where annotate() changed the picture)."""

    def __init__(self, folder: Path):
        self.path = folder / "fed.raw"
        self._file = open(self.path, "wb")
        self.shape: tuple[int, ...] | None = None
        self.count = 0
        self.fps = 0.0
        self.overlays: list[np.ndarray] = []
        self._drawn: dict[int, np.ndarray] = {}  # id of an annotated frame -> its overlay mask

    def record(self, clip: Path, analyzer: Analyzer) -> None:
        write, annotate = H264Writer.write, video_module.annotate

        def recording_annotate(image, faces, labels=None, bars=True):
            annotated = annotate(image, faces, labels, bars)
            changed = np.any(annotated != image, axis=2).astype(np.uint8)
            self._drawn[id(annotated)] = cv2.dilate(changed, np.ones((5, 5), np.uint8)).astype(bool)
            return annotated

        def recording_write(writer, frame):
            self.shape, self.fps = frame.shape, writer.fps
            self._file.write(np.ascontiguousarray(frame).tobytes())
            self.overlays.append(self._drawn[id(frame)])
            self.count += 1
            write(writer, frame)

        video_module.annotate, H264Writer.write = recording_annotate, recording_write
        try:
            with tempfile.TemporaryDirectory() as out:
                VideoAnalyzer(analyzer, VideoOptions()).run(clip, out)
        finally:
            video_module.annotate, H264Writer.write = annotate, write
            self._file.close()

    def frames(self) -> np.ndarray:
        assert self.shape is not None
        return np.memmap(self.path, np.uint8, "r", shape=(self.count, *self.shape))


def encode(fed: FedFrames, path: Path, preset: str, crf: int) -> dict:
    height, width = fed.shape[:2]
    started = time.perf_counter()
    writer = H264Writer(path, width, height, fed.fps, preset=preset, crf=crf)
    for frame in fed.frames():
        writer.write(frame)
    writer.close()
    return {"encoder_cpu_seconds": writer.encoder_cpu_seconds, "wall_seconds": time.perf_counter() - started,
            "bytes": path.stat().st_size}


def quality(fed: FedFrames, path: Path) -> dict:
    """SSIM and PSNR (grey levels) of the decoded MP4 against the frames fed to it."""
    cap = cv2.VideoCapture(str(path))
    ssim, psnr, overlay_sum, overlay_pixels = [], [], 0.0, 0
    for frame, overlay in zip(fed.frames(), fed.overlays):
        ok, decoded = cap.read()
        assert ok, f"{path}: fewer frames than written"
        height, width = frame.shape[:2]
        truth = cv2.cvtColor(np.asarray(frame), cv2.COLOR_BGR2GRAY)
        got = cv2.cvtColor(decoded[:height, :width], cv2.COLOR_BGR2GRAY)  # (padded to even sides)
        score, ssim_map = structural_similarity(truth, got, data_range=255, full=True)
        ssim.append(score)
        psnr.append(peak_signal_noise_ratio(truth, got, data_range=255))
        overlay_sum += float(ssim_map[overlay].sum())
        overlay_pixels += int(overlay.sum())
    cap.release()
    return {"ssim": round(statistics.fmean(ssim), 4), "ssim_worst_frame": round(float(min(ssim)), 4),
            "psnr_db": round(float(statistics.fmean(psnr)), 2),
            "overlay_ssim": round(overlay_sum / overlay_pixels, 4) if overlay_pixels else None}


def make_clips(folder: Path, sizes: list[str]) -> dict[str, Path]:
    clips = {"carphone 176x144": carphone()}
    for size in sizes:
        width, height = size.split("x")
        clips[f"carphone scaled to {size}"] = path = folder / f"carphone_{size}.mp4"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-stream_loop", "-1", "-i",
                        str(carphone()), "-frames:v", str(LOOPED_FRAMES),
                        "-vf", f"scale={width}:{height}:flags=lanczos,setsar=1", "-an",
                        "-c:v", "libx264", "-crf", "12", "-preset", "medium", "-pix_fmt", "yuv420p", str(path)],
                       check=True)
    return clips


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="*", default=["640x480"], help="default: %(default)s")
    parser.add_argument("--rounds", type=int, default=2, help="default: %(default)s")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    analyzer = Analyzer()
    report: dict = {"cpu": cpu_model(), "ffmpeg": imageio_ffmpeg.get_ffmpeg_version(),
                    "fervid_default": {"preset": ANNOTATED_PRESET, "crf": ANNOTATED_CRF}, "rounds": args.rounds,
                    "clips": {}}
    with tempfile.TemporaryDirectory() as work:
        work_dir = Path(work)
        for name, clip in make_clips(work_dir, args.sizes).items():
            fed = FedFrames(Path(tempfile.mkdtemp(dir=work)))
            fed.record(clip, analyzer)
            runs: dict[str, list[dict]] = {f"{preset} crf {crf}": [] for preset, crf in SETTINGS}
            for _ in range(args.rounds):
                for preset, crf in SETTINGS:
                    runs[f"{preset} crf {crf}"].append(encode(fed, work_dir / f"{preset}_{crf}.mp4", preset, crf))
            results = {}
            for preset, crf in SETTINGS:
                done = runs[f"{preset} crf {crf}"]
                results[f"{preset} crf {crf}"] = {
                    "preset": preset, "crf": crf,
                    "encoder_cpu_seconds": round(min(r["encoder_cpu_seconds"] for r in done), 2),
                    "wall_seconds": round(min(r["wall_seconds"] for r in done), 2),
                    "megabytes": round(done[-1]["bytes"] / 1e6, 3),
                    **quality(fed, work_dir / f"{preset}_{crf}.mp4")}
                print(name, f"{preset} crf {crf}", results[f"{preset} crf {crf}"], flush=True)
            height, width = fed.shape[:2]
            report["clips"][name] = {"encoded_size": f"{width}x{height}", "frames": fed.count,
                                     "fps": round(fed.fps, 3), "settings": results}
    write_json(args.json, report)


if __name__ == "__main__":
    main()
