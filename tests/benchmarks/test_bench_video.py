"""bench_video.py --cpu-time: CPU time, not wall time, on a machine other work shares (wall-clock fps is noise
there): the process's and ffmpeg's CPU seconds per frame, and each stage's from the process's CPU clock."""

import time

import fervid.inference.temporal
import fervid.inference.video
from fervid.inference.analyzer import Analyzer
from fervid.inference.video import STAGES, sample_video

from benchmark_scripts import load
from conftest import needs_sample_clip


def test_the_stage_timers_read_cpu_time_within_and_the_wall_clock_again_after():
    bench_video = load("bench_video")
    with bench_video.stages_on_cpu_clock():
        for module in (fervid.inference.video, fervid.inference.temporal):
            t0 = module.time.perf_counter()
            time.sleep(0.3)  # no CPU spent: a CPU clock hardly moves
            assert module.time.perf_counter() - t0 < 0.1
            assert module.time.monotonic is time.monotonic  # the module's other uses of time are left alone
    for module in (fervid.inference.video, fervid.inference.temporal):
        assert module.time is time
        t0 = module.time.perf_counter()
        time.sleep(0.3)
        assert module.time.perf_counter() - t0 >= 0.3


@needs_sample_clip
def test_a_cpu_time_run_gives_the_stages_and_the_encoders_cpu_within_the_whole(tmp_path):
    bench_video = load("bench_video")
    analyzer = Analyzer()
    measured = bench_video.run(analyzer, sample_video(), "lstm", tmp_path / "out", cpu_time=True)
    assert measured["frames"] == 120 and measured["tracks"] == 1
    stages = measured["stages"]
    assert list(stages) == list(STAGES) and all(seconds >= 0 for seconds in stages.values())
    assert stages["detect"] > 0 and stages["cnn"] > 0
    # the ffmpeg encoder's CPU (a child process: in no timer of fervid's) is the encode stage's, beside the drawing
    assert 0 < measured["encoder_cpu_seconds"] < stages["encode"]
    # fervid's stages and the encoder together, measured apart, within the CPU time of the whole run
    assert 0 < sum(stages.values()) <= measured["seconds"]
