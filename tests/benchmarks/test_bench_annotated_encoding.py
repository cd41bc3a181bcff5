import json
import subprocess
import sys

from benchmark_scripts import FOLDER, script_environment
from conftest import needs_sample_clip


@needs_sample_clip
def test_bench_annotated_encoding_weighs_each_setting_on_the_frames_drawn(tmp_path):
    """The script behind docs/eval/annotated_encoding.json: on the carphone sample alone (no --sizes), each setting's
    encoder CPU, size and quality against the frames fervid drew; the slower preset keeps more of the picture."""
    subprocess.run([sys.executable, f"{FOLDER}/bench_annotated_encoding.py", "--sizes", "--rounds", "1",
                    "--json", str(tmp_path / "out.json")], check=True, cwd=tmp_path, timeout=600,
                   env=script_environment())
    report = json.loads((tmp_path / "out.json").read_text())
    (clip,) = report["clips"].values()
    assert clip["encoded_size"] == "579x432" and clip["frames"] == 120
    settings = clip["settings"]
    assert list(settings) == ["veryfast crf 23", "superfast crf 26", "ultrafast crf 28"]
    for measured in settings.values():
        assert measured["encoder_cpu_seconds"] > 0 and measured["megabytes"] > 0
        assert 0.9 < measured["ssim"] < 1 and 0.9 < measured["overlay_ssim"] < 1 and measured["psnr_db"] > 30
    assert settings["veryfast crf 23"]["ssim"] > settings["ultrafast crf 28"]["ssim"]
