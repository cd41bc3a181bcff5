"""benchmarks/weight_average_probe.py: two networks' weights averaged, BatchNorm recomputed, scored."""


import pytest

torch = pytest.importorskip("torch")

from fervid.training.train import load_net, train  # noqa: E402

from training.test_train import tiny_config  # noqa: E402

from benchmark_scripts import load  # noqa: E402

probe_module = load("weight_average_probe")


def test_a_run_and_its_second_stage_average_to_their_midpoint_and_are_scored(fer_csv, tmp_path):
    first = train(tiny_config(fer_csv, epochs=2), tmp_path / "first", progress=False)
    cfg = tiny_config(fer_csv, epochs=1, init_from=str(first / "last.pt"))
    second = train(cfg, tmp_path / "second", progress=False)
    start, end = (load_net(run / "last.pt").state_dict() for run in (first, second))
    middle = probe_module.average_state(start, end)
    key = "body.0.weight"
    assert not torch.equal(start[key], end[key])
    torch.testing.assert_close(middle[key], (start[key] + end[key]) / 2)

    rows = probe_module.probe(cfg, str(first / "last.pt"), str(second / "last.pt"))
    assert [name for name, _ in rows][:2] == [str(first / "last.pt"), str(second / "last.pt")]
    assert all(0.5 < accuracy <= 1.0 for _, accuracy in rows)  # chance is 1/7; the tiny runs learn the bars
    same = probe_module.probe(cfg, str(first / "last.pt"), str(first / "last.pt"))
    assert same[2][1] == pytest.approx(same[0][1], abs=0.02)  # a network averaged with itself is itself


def test_a_config_whose_data_is_not_there_is_named_in_one_line(tmp_path):
    """A config's relative data paths are read from the current directory: run elsewhere, the probe died with a
    DatasetError traceback."""
    import subprocess
    import sys
    from pathlib import Path

    from benchmark_scripts import FOLDER

    config = tmp_path / "probe.toml"
    config.write_text('data = "../shared/data/fer2013/fer2013.csv.gz"\n')
    done = subprocess.run([sys.executable, str(Path(FOLDER) / "weight_average_probe.py"), "--config", str(config),
                           "--start", "ferplus_vgg", "--end", "ferplus_vgg"], cwd=tmp_path, capture_output=True,
                          text=True, encoding="utf-8", timeout=300)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert done.stderr.strip().splitlines() == [
        "error: ../shared/data/fer2013/fer2013.csv.gz: no such file (a config's relative data paths are read from the "
        "current directory: run from the repository root, as for fervid train)"]
