"""Tracking when faces meet: do two people keep their track numbers when one passes in front of the other, and
does either track have rows on the other person's face?

    python benchmarks/bench_tracking.py [--data ../shared/data] [--json docs/eval/tracking.json]

Clips are made here, 640x360 at 25 fps, with two faces (the astronaut from scikit-image and her mirror image, or,
with ``--data``, two JAFFE people: KA happy, KM surprised), the second always drawn in front:

- one lane: both still for 1 s, then crossing the frame in 15 to 70 frames (30 to 6.4 px per frame), still 1 s;
- a passer-by: the first face still (someone seated), the second walking across in front of it in 20, 40 or 80
  frames;
- two lanes: crossing in 30 frames with the second face 40 px lower; the same with the second face 25% smaller.

Each clip is analysed at --detect-every 0.3 (the default) and 0.04 (every frame), with ``--method frame``.
Reported per clip: the track numbers made (2 is right: no face is hidden long enough, 0.9 s, to lose its
number), whether each face has the same number at the end as at the start, and the rows whose box is nearer the
other face than its own (where the faces are a third of a face apart or more).
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import cv2
import numpy as np

from fervid.evaluation.datasets import DatasetError
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import H264Writer, VideoAnalyzer, VideoOptions
from fervid.machine import cpu_model
from data_paths import DATA, data_or_exit  # noqa: E402 (benchmarks/, the script's folder)
from report import write_json  # noqa: E402 (benchmarks/, the script's folder)

SPEEDS = (0.3, 0.04)  # --detect-every
FACE_W, FACE_H = 150, 180


def ramp(frame: int, start: int, frames: int) -> float:
    return min(max((frame - start) / frames, 0.0), 1.0)


def scenarios() -> list[dict]:
    """Each: a name, its frames, the two faces' left edges per frame, the second face's scale and vertical shift."""
    found = []
    for frames in (15, 25, 35, 50, 70):
        found.append({"name": f"one lane, crossing in {frames} frames ({450 / frames:.1f} px/frame)",
                      "frames": frames + 50, "scale": 1.0, "dy": 0,
                      "x": lambda i, n=frames: (20 + 450 * ramp(i, 25, n), 470 - 450 * ramp(i, 25, n))})
    for frames in (20, 40, 80):
        found.append({"name": f"a passer-by in front of a still face, across in {frames} frames",
                      "frames": frames + 20, "scale": 1.0, "dy": 0,
                      "x": lambda i, n=frames: (245, 480 * ramp(i, 10, n))})
    crossing = lambda i: (20 + 450 * ramp(i, 25, 30), 470 - 450 * ramp(i, 25, 30))  # noqa: E731
    found.append({"name": "two lanes 40 px apart, crossing in 30 frames", "frames": 80, "scale": 1.0, "dy": 40,
                  "x": crossing})
    found.append({"name": "two lanes, the front face 25% smaller, crossing in 30 frames", "frames": 80,
                  "scale": 0.75, "dy": 30, "x": crossing})
    return found


def faces(data: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(first face, second face), BGR, 180 x 150."""
    if data is None:
        from skimage import data as samples

        face = cv2.cvtColor(samples.astronaut()[30:210, 150:300], cv2.COLOR_RGB2BGR)
        return face, np.ascontiguousarray(face[:, ::-1])
    heads, folder = [], data / "jaffe" / "jaffedbase"
    for name in ("KA.HA1", "KM.SU1"):
        path = next(folder.glob(f"{name}*.tiff"), None)
        if path is None:
            raise DatasetError(f"{folder}: no {name}*.tiff (the JAFFE face this clip needs)")
        grey = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (FACE_W, FACE_W), interpolation=cv2.INTER_AREA)
        pad = (FACE_H - FACE_W) // 2
        heads.append(cv2.cvtColor(cv2.copyMakeBorder(grey, pad, pad, 0, 0, cv2.BORDER_REPLICATE), cv2.COLOR_GRAY2BGR))
    return heads[0], heads[1]


def clip(path: Path, first: np.ndarray, second: np.ndarray, scene: dict) -> list[tuple[float, float]]:
    """Write the scene's clip; the faces' centres (x) per frame."""
    second = cv2.resize(second, None, fx=scene["scale"], fy=scene["scale"])
    writer = H264Writer(path, 640, 360, 25.0)
    centres = []
    for i in range(scene["frames"]):
        frame = np.full((360, 640, 3), 90, np.uint8)
        a, b = (int(x) for x in scene["x"](i))
        frame[80 : 80 + FACE_H, a : a + FACE_W] = first
        top = 80 + scene["dy"]
        frame[top : top + second.shape[0], b : b + second.shape[1]] = second  # in front: drawn last
        writer.write(frame)
        centres.append((a + FACE_W / 2, b + second.shape[1] / 2))
    writer.close()
    return centres


def score(table, centres: list[tuple[float, float]]) -> dict:
    def nearest(frame: int, x_centre: float) -> int:
        a, b = centres[frame]
        return 0 if abs(x_centre - a) <= abs(x_centre - b) else 1

    table = table.assign(centre=table.x + table.width / 2)
    own = {int(tid): nearest(int(g.frame.iloc[0]), g.centre.iloc[0])
           for tid, g in table.sort_values("frame").groupby("track")}

    def owner(frame: int, face: int) -> int | None:
        on_face = [int(r.track) for r in table[table.frame == frame].itertuples() if nearest(frame, r.centre) == face]
        return on_face[0] if len(on_face) == 1 else None

    first, last = 0, len(centres) - 1
    kept = all(owner(first, k) is not None and owner(first, k) == owner(last, k) for k in (0, 1))
    wrong = sum(nearest(r.frame, r.centre) != own[int(r.track)] for r in table.itertuples()
                if abs(np.subtract(*centres[r.frame])) > 50)
    return {"tracks": len(own), "ids_kept": kept, "rows": len(table), "rows_on_the_other_face": int(wrong)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, help=f"a data folder with jaffe/jaffedbase (the shared one: {DATA}): "
                                                  "JAFFE heads instead of the astronaut")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with data_or_exit():
        first, second = faces(args.data)
    analyzer = Analyzer()
    results = []
    with tempfile.TemporaryDirectory() as work:
        for k, scene in enumerate(scenarios()):
            path = Path(work) / f"scene{k}.mp4"
            centres = clip(path, first, second, scene)
            for every in SPEEDS:
                table = VideoAnalyzer(analyzer, VideoOptions(method="frame", detect_every=every,
                                                             annotate=False)).run(path).frame_table()
                row = {"scene": scene["name"], "detect_every": every, **score(table, centres)}
                results.append(row)
                print(row)
    print("\n| scene | --detect-every | tracks | ids kept | rows on the other face |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['scene']} | {r['detect_every']} | {r['tracks']} | {'yes' if r['ids_kept'] else 'no'} | "
              f"{r['rows_on_the_other_face']} of {r['rows']} |")
    write_json(args.json, {"cpu": cpu_model(), "machine": platform.machine(),
                           "faces": "JAFFE KA happy, KM surprised" if args.data else "the astronaut and her mirror",
                           "results": results})


if __name__ == "__main__":
    main()
