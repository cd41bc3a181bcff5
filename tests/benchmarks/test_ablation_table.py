"""benchmarks/ablation_table.py reads run folders (config.json + metrics.jsonl) into the docs' ablation table."""

import json
import subprocess
import sys
from pathlib import Path

from benchmark_scripts import FOLDER

SCRIPT = Path(FOLDER) / "ablation_table.py"


def _run_folder(root: Path, name: str, config: dict, accuracies: list[float]) -> None:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "metrics.jsonl").write_text(
        "".join(json.dumps({"val_acc": acc, "train_acc": acc + 0.1, "seconds": 120}) + "\n" for acc in accuracies))


def test_diff_mode_names_the_one_setting_each_run_changes(tmp_path):
    base = {"epochs": 2, "label_smoothing": 0.1, "erase_prob": 0.5, "net": {"stages": [32, 64]}}
    _run_folder(tmp_path, "base", base, [0.50, 0.60])
    _run_folder(tmp_path, "no_ls", {**base, "label_smoothing": 0.0}, [0.55, 0.58])
    _run_folder(tmp_path, "narrow", {**base, "net": {"stages": [16, 32]}}, [0.40, 0.62])

    out = subprocess.run([sys.executable, str(SCRIPT), "--runs", str(tmp_path), "--base", "base", "--diff",
                          "--soup", "--stage1", "none"], capture_output=True, text=True,
                          encoding="utf-8", check=True).stdout
    rows = {line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
            for line in out.splitlines()[2:]}

    assert rows["base"][0] == "(the base)"
    assert rows["no_ls"][0] == "label_smoothing 0.1 -> 0.0"
    assert rows["no_ls"][2:5] == ["0.5800", "0.5800", "-2.00 pt"]  # final, best, final vs base
    assert rows["narrow"][0] == "net.stages [32, 64] -> [16, 32]"
    assert rows["narrow"][2:5] == ["0.6200", "0.6200", "+2.00 pt"]
    assert rows["narrow"][5:7] == ["4 min", "0.7200"]  # wall, last epoch's training accuracy
