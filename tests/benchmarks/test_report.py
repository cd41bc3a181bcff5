"""benchmarks/report.py: what the benchmark scripts share when they write a record for docs/."""

import json

import fervid
from benchmark_scripts import load
from conftest import REPO

report = load("report")


def test_a_record_names_the_packages_weights_as_evaluate_does_and_no_machines_path(tmp_path):
    """quant_probe.py and int8_portability.py recorded /work/wt-repro/src/fervid/weights/... and /tmp/... paths
    in docs/eval (test_docs' check found them): a file is named from the package, the repository, or by its name."""
    from pathlib import Path

    weights = Path(fervid.__file__).parent / "weights" / "ferplus_vgg" / "model_int8.onnx"
    assert report.shown_path(weights) == "fervid/weights/ferplus_vgg/model_int8.onnx"
    assert report.shown_path(REPO / "docs" / "results.md") == "docs/results.md"
    elsewhere = tmp_path / "v0" / "model.onnx"
    assert report.shown_path(elsewhere) == "model.onnx"
    out = tmp_path / "records" / "probe.json"
    report.write_json(out, {"model": report.shown_path(weights.parent)})
    assert json.loads(out.read_text(encoding="utf-8")) == {"model": "fervid/weights/ferplus_vgg"}
    assert str(tmp_path) not in out.read_text(encoding="utf-8")
