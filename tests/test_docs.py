"""The numbers the docs quote are the ones the measurements recorded."""

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "docs" / "results.md"
WEIGHTS = ROOT / "src" / "fervid" / "weights"


def _one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("cnn, sentence", [
    ("fer2013_vgg", r"For `fer2013_vgg` it pays \(([\d.]+) -> ([\d.]+) cross-fitted\), so that LSTM ships with "
                    r"T = ([\d.]+)"),
    ("ferplus_vgg", r"For today's `ferplus_vgg` LSTM \(nineteenth session\) it paid on the validation people's "
                    r"halves \(([\d.]+) -> ([\d.]+)\), so it ships with T = ([\d.]+)")])
def test_the_temperature_each_shipped_lstm_is_said_to_have_paid_is_its_training_records(cnn, sentence):
    """results.md gave the fer2013_vgg LSTM's cross-fitted ECE as 0.075 -> 0.039, the LSTM's it replaced; its
    training.json has 0.0653 -> 0.0238."""
    choice = json.loads((WEIGHTS / f"temporal_lstm_{cnn}" / "training.json").read_text(encoding="utf-8"))
    choice = choice["temperature_choice"]
    found = re.search(sentence, _one_line(RESULTS.read_text(encoding="utf-8")))
    assert found, sentence
    assert [float(x) for x in found.groups()] == [round(choice["cross_fitted_ece_untempered"], 3),
                                                  round(choice["cross_fitted_ece_tempered"], 3),
                                                  round(choice["temperature"], 2)]
    assert choice["applied"]


def _section(text: str, number: str) -> str:
    return text.split(f"\n## {number}. ", 1)[1].split("\n## ", 1)[0]


def test_the_dates_results_md_opens_with_for_section_8_are_those_its_tables_give():
    """The opening said section 8's tables were from 2026-12-01 to 2026-12-04; its lag and calibration tables
    (lag.json, temporal_calibration.json) were re-measured on 2026-12-05."""
    text = RESULTS.read_text(encoding="utf-8")
    opening = _one_line(text.split("\n## ", 1)[0])
    said = re.search(r"Section 8's tables are from (.*?)\. `docs/reproduce.sh`", opening)
    assert said, "results.md's opening no longer says where section 8's tables are from"
    dates = set(re.findall(r"\d{4}-\d\d-\d\d", _section(text, "8")))
    assert dates and dates <= set(re.findall(r"\d{4}-\d\d-\d\d", said.group(1))), (dates, said.group(1))
