"""One face row schema (fervid.inference.records.ROW_COLUMNS) in every table: `fervid image --csv`, a video's frame table
and a batch run's dataset, with the same names and values as the JSON."""

import csv
import json
from pathlib import Path
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fervid.inference.analyzer import Analyzer
from fervid.apps.batch import DATASET_LEADING, BatchOptions, _current_schema, run_batch
from fervid.apps.cli import app
from fervid.emotions import EMOTIONS
from fervid.inference.images import ImageLoadError
from fervid.inference.records import ROW_COLUMNS, ImageResult
from fervid.inference.video import FRAME_LEADING, VideoAnalyzer, VideoOptions
from fervid.inference.options import PipelineOptions


def test_every_table_has_the_one_face_row(tmp_path, astronaut_png, face_clip):
    result = CliRunner().invoke(app, ["image", str(astronaut_png), "--csv", str(tmp_path / "f.csv"), "--json",
                                      str(tmp_path / "f.json"), "-q"])
    assert result.exit_code == 0, result.output
    with open(tmp_path / "f.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["file", "face", *ROW_COLUMNS, "error"]
    face = json.loads((tmp_path / "f.json").read_text())["files"][0]["faces"][0]
    assert rows[0]["emotion"] == face["emotion"] == "happy"
    assert float(rows[0]["confidence"]) == face["confidence"] and rows[0]["uncertain"] == str(face["uncertain"]).upper()

    video = VideoAnalyzer(Analyzer(), VideoOptions(method="frame", annotate=False)).run(face_clip).frame_table()
    assert list(video.columns) == [*FRAME_LEADING, *ROW_COLUMNS, "detected"]
    assert (video["emotion"] == video[list(EMOTIONS)].idxmax(axis=1)).all()
    assert np.allclose(video["confidence"], video[list(EMOTIONS)].max(axis=1))
    assert video["detection_score"].between(0, 1).all()

    run_batch([str(astronaut_png)], BatchOptions(out=tmp_path / "b", pipeline=PipelineOptions(annotate=False)),
              progress=False)
    table = pd.read_parquet(tmp_path / "b" / "dataset.parquet")
    assert list(table.columns) == [*DATASET_LEADING, *ROW_COLUMNS]
    assert table["emotion"].tolist() == ["happy"] and table["confidence"].iloc[0] == face["confidence"]


def test_batch_parts_from_before_the_one_row_are_migrated():
    old = pd.DataFrame([{"file": "a.jpg", "kind": "image", "track": 0, "time": 0.0, "frame": 0, "x": 1.0, "y": 2.0,
                         "width": 3.0, "height": 4.0, **dict(zip(EMOTIONS, [0.1, 0, 0, 0.6, 0.1, 0.1, 0.1])),
                         "label": "happy"}])
    new = _current_schema(old)
    assert list(new.columns) == [*DATASET_LEADING, *ROW_COLUMNS]
    assert new["emotion"].tolist() == ["happy"] and new["confidence"].tolist() == [0.6]
    assert new["uncertain"].tolist() == [False]


def test_an_image_result_reads_as_its_faces_and_feeds_every_writer(astronaut_rgb):
    from fervid.inference.records import images_document

    result = Analyzer().analyze_image(astronaut_rgb)
    assert len(result) == 1 and result[0] is result.faces[0] and [f.emotion for f in result] == ["happy"]
    (row,) = result.rows(file="a.png")
    entry = result.to_dict()["faces"][0]
    assert row["file"] == "a.png" and row["face"] == 1  # numbered from 1, as a video's tracks
    assert row["emotion"] == entry["emotion"] and row["confidence"] == entry["confidence"]
    assert (row["x"], row["width"]) == (entry["box"]["x"], entry["box"]["width"])
    assert result.width == astronaut_rgb.shape[1] and result.height == astronaut_rgb.shape[0]
    broken = type(result)("b.png", error="b.png: not an image")
    doc = images_document([result, broken], Analyzer(precision="fp32", score_threshold=0.55).settings)
    assert doc["failed"] == 1 and [f["ok"] for f in doc["files"]] == [True, False]
    assert doc["files"][1]["error"] == "b.png: not an image"
    assert doc["files"][0]["error"] is None  # present either way, as the API's schema has it
    from fervid.apps.schemas import ImagesOut

    assert ImagesOut.model_validate(doc).model_dump(mode="json")["files"] == doc["files"]  # the API's answer
    # what made the numbers is recorded beside them
    assert {k: doc[k] for k in ("model", "precision", "detector", "score_threshold")} == {
        "model": "ferplus_vgg", "precision": "fp32", "detector": "centerface", "score_threshold": 0.55}


def test_an_image_results_table_has_its_columns_with_or_without_faces(astronaut_rgb):
    """pd.DataFrame(result.rows()) of a photo without a face had no columns: table["emotion"] raised KeyError."""
    from fervid.inference.records import ROW_COLUMNS

    analyzer = Analyzer()
    table = analyzer.analyze_image(astronaut_rgb).to_dataframe()
    assert table.columns.tolist() == ["face", *ROW_COLUMNS]
    assert table["emotion"].tolist() == ["happy"] and table["face"].tolist() == [1]
    empty = analyzer.analyze_image(np.full((200, 200, 3), 120, np.uint8)).to_dataframe()
    assert empty.columns.tolist() == ["face", *ROW_COLUMNS] and empty["emotion"].tolist() == []


def test_faces_and_image_results_print_their_emotion_rounded_not_their_arrays(astronaut_rgb):
    """A Face printed its box, landmarks and 7 probabilities to 16 digits, and neither its emotion nor confidence."""
    import dataclasses
    import re

    result = Analyzer().analyze_image(astronaut_rgb)
    face = result[0]
    x, y, width, height = (round(v, 1) for v in face.box)
    assert repr(face) == (f"Face(emotion='happy', confidence={face.confidence:.3f}, box=({x}, {y}, {width}, {height}), "
                          f"detection_score={face.detection_score:.3f}, uncertain=False)")
    assert repr(result) == f"ImageResult(source='', width=512, height=512, faces=[{face!r}])"
    assert dataclasses.replace(face) == face and dataclasses.replace(face, uncertain=True) != face  # eq kept
    # a group photo's result prints a few faces and counts the rest
    group = dataclasses.replace(result, source="class.jpg", faces=[face] * 12)
    assert repr(group).endswith(f"{face!r}, ... 7 more])") and repr(group).count("Face(") == 5
    assert not re.search(r"\d\.\d{5}", repr(group))
    broken = type(result)("b.png", error="b.png: not an image")
    assert repr(broken) == "ImageResult(source='b.png', error='b.png: not an image', faces=[])"


def test_an_image_results_table_is_typed_with_or_without_faces(astronaut_rgb):
    """An image with no face gave a table of 16 object columns, and pd.concat of it with a one-face table made
    every column of a whole study's table object."""
    analyzer = Analyzer()
    one = analyzer.analyze_image(astronaut_rgb).to_dataframe()
    empty = analyzer.analyze_image(np.full((200, 200, 3), 120, np.uint8)).to_dataframe()
    assert empty.dtypes.to_dict() == one.dtypes.to_dict()
    assert one["face"].dtype == "Int64" and one["uncertain"].dtype == "boolean"  # as `fervid image --parquet`
    assert (one[list(EMOTIONS)].dtypes == np.float64).all()
    study = pd.concat([empty, one, empty], ignore_index=True)
    assert study.dtypes.to_dict() == one.dtypes.to_dict()
    assert study[~study["uncertain"]]["emotion"].tolist() == ["happy"]


def test_an_image_results_table_says_which_image_its_rows_are_from(astronaut_rgb, astronaut_png):
    """pd.concat of many photos' to_dataframe() tables lost which photo each row was from (rows(**leading) took
    leading columns, to_dataframe none)."""
    import pytest

    from fervid.errors import OptionError

    analyzer = Analyzer()
    one = analyzer.analyze_image(astronaut_png).to_dataframe(file=astronaut_png, photo_id=7)  # a Path: its text
    none = analyzer.analyze_image(np.full((200, 200, 3), 120, np.uint8)).to_dataframe(file="grey.png", photo_id=8)
    assert one.columns.tolist() == ["file", "photo_id", "face", *ROW_COLUMNS]
    assert one[["file", "photo_id", "emotion"]].values.tolist() == [[str(astronaut_png), 7, "happy"]]
    assert none.dtypes.to_dict() == one.dtypes.to_dict() and one["file"].dtype == one["emotion"].dtype
    study = pd.concat([one, none, one], ignore_index=True)
    assert study["file"].tolist() == [str(astronaut_png)] * 2 and study["photo_id"].dtype == "Int64"
    assert study.dtypes.to_dict() == one.dtypes.to_dict()
    # as `fervid image --csv` names and writes its file column
    assert one["file"].tolist() == [row["file"] for row in analyzer.analyze_image(astronaut_png).rows(
        file=str(astronaut_png))]
    with pytest.raises(OptionError, match="'emotion' is a column of the face row itself"):
        analyzer.analyze_image(astronaut_rgb).to_dataframe(emotion="x")


def test_csv_text_that_a_spreadsheet_would_run_is_written_as_text_and_numbers_as_they_are():
    """OWASP's CSV injection: a cell starting with = + - @, a tab or a carriage return is a formula to Excel,
    LibreOffice and Google Sheets (`=cmd|' /C calc'!A0` ran a program). Such text gets a ' before it; numbers,
    negative ones too, and other text are written as they were. A carriage return in a name, written bare, split its
    row in two for every reader: it is quoted."""
    import csv
    import io

    from fervid.inference.records import write_csv

    written = io.StringIO(newline="")
    write_csv(written, ["file", "x", "emotion", "error"],
              [["=cmd|' /C calc'!A0.png", -1.5, "happy", "+SUM(1+1).png: not an image"],
               ["@x.png", 2, "sad", "-rf.png: empty"], ["\tx.png", -3, "fear", "\rx.png"], ["a=b.png", 0.25, "", None]])
    rows = list(csv.reader(io.StringIO(written.getvalue(), newline="")))
    assert rows[1:] == [["'=cmd|' /C calc'!A0.png", "-1.5", "happy", "'+SUM(1+1).png: not an image"],
                        ["'@x.png", "2", "sad", "'-rf.png: empty"], ["'\tx.png", "-3", "fear", "'\rx.png"],
                        ["a=b.png", "0.25", "", ""]]


class _Page(HTMLParser):
    """The elements and the text of an HTML fragment, as a browser would read them."""

    def __init__(self, fragment: str):
        super().__init__()
        self.tags, self.text, self.rows = [], [], []
        self.feed(fragment)

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        if tag == "tr":
            self.rows.append([])

    def handle_data(self, data):
        self.text.append(data)
        if self.tags and self.tags[-1] == "td" and data.strip():
            self.rows[-1].append(data.strip())


def test_a_notebook_shows_an_image_result_as_a_table_of_its_faces_and_its_name_as_text(tmp_path, astronaut_rgb):
    """A result in a Jupyter cell printed its repr only: no _repr_html_. It shows the image's name, size and a
    row per face (its to_dataframe, as pandas writes it in HTML); a file named as markup is shown as text."""
    from PIL import Image

    name = "<img src=x onerror=alert(1)>&<b>.png"
    Image.fromarray(np.hstack([astronaut_rgb, astronaut_rgb[:, ::-1]])).save(tmp_path / name)
    result = Analyzer().analyze_image(tmp_path / name)
    page = _Page(result._repr_html_())
    assert "img" not in page.tags and page.tags.count("b") == 1  # the name's markup is text, not elements
    assert f"{tmp_path / name}: 1024 x 512, 2 face(s)" in "".join(page.text)
    table = result.to_dataframe()
    body = [row for row in page.rows if row]  # (the header's row holds th cells)
    assert [row[table.columns.get_loc("emotion")] for row in body] == list(table["emotion"]) and len(body) == 2

    bad = tmp_path / "<i>bad&.png"  # an unreadable file: its error, no table
    bad.write_bytes(b"<script>alert(1)<script>")
    with pytest.raises(ImageLoadError) as raised:
        Analyzer().analyze_image(bad)
    page = _Page(ImageResult(str(bad), error=str(raised.value))._repr_html_())
    assert not {"i", "script", "table"} & set(page.tags) and f"{bad}: error: " in "".join(page.text)


def test_parquet_columns_carry_their_descriptions_and_a_table_of_tracks_none_of_a_probability(tmp_path, astronaut_png):
    """The emotion columns are a face row's probabilities, but each emotion's share of the time seen in a table of
    tracks (tracks.csv, <name>_segments.csv) under the same names: each is described where it is (a Parquet
    table's fields, the API's schema), never a share as a probability."""
    import pyarrow.parquet as pq

    from fervid.apps.schemas import EmotionShares
    from fervid.inference.records import FIELD_DESCRIPTIONS, TIME_SHARE_DESCRIPTIONS, TRACK_COLUMNS, table_schema

    result = CliRunner().invoke(app, ["image", str(astronaut_png), "--parquet", str(tmp_path / "f.parquet"), "-q"])
    assert result.exit_code == 0, result.output
    written = pq.read_schema(tmp_path / "f.parquet")
    for column in ["x", "detection_score", *EMOTIONS, "confidence", "uncertain"]:
        assert written.field(column).metadata[b"description"].decode() == FIELD_DESCRIPTIONS[column]
    assert "probability of happy" in FIELD_DESCRIPTIONS["happy"]
    assert all(field.metadata is None for field in table_schema(TRACK_COLUMNS))  # types only: no probability
    # a video's frames table: the temporal method's probability over its window, which the annotated video shows
    from fervid.inference.video import TABLE_COLUMNS

    video_schema = table_schema(TABLE_COLUMNS)
    for column in [*EMOTIONS, "confidence"]:
        assert "temporal method" in video_schema.field(column).metadata[b"description"].decode()
        assert "temporal method" not in FIELD_DESCRIPTIONS[column]
    assert video_schema.field("x").metadata[b"description"].decode() == FIELD_DESCRIPTIONS["x"]
    for emotion in EMOTIONS:
        shares = EmotionShares.model_json_schema()["properties"][emotion]["description"]
        assert shares == TIME_SHARE_DESCRIPTIONS[emotion] and "share of the time" in shares
        assert "probability" not in shares


def test_one_table_schema_builds_every_tables_types_and_its_record_of_what_made_it(tmp_path):
    """Two functions were called table_schema (records' types, video's types and settings), the image and batch
    tables built by the video one: there is one, in records."""
    import pyarrow.parquet as pq

    from fervid.inference import records, video

    assert video.table_schema is records.table_schema and video.SETTINGS_METADATA_KEY is records.SETTINGS_METADATA_KEY
    schema = records.table_schema(video.TABLE_COLUMNS, settings={"model": "ferplus_vgg"})
    pq.write_table(schema.empty_table(), tmp_path / "t.parquet")
    assert video.table_settings(tmp_path / "t.parquet") == {"model": "ferplus_vgg"}
    assert pq.read_schema(tmp_path / "t.parquet").names == video.TABLE_COLUMNS


def test_images_table_given_paths_says_it_takes_image_results():
    """``fervid.images_table(["shots/a.jpg"])`` raised AttributeError "'str' object has no attribute 'faces'"."""
    import fervid

    for given, named in ((["shots/a.jpg"], "str 'shots/a.jpg'"), ("shots/a.jpg", "str 'shots/a.jpg'"),
                         ([Path("shots/a.jpg")], type(Path()).__name__)):
        with pytest.raises(TypeError, match=r"takes ImageResult objects \(from Analyzer.analyze_image\), not ") as error:
            fervid.images_table(given)
        assert named in str(error.value)


def test_the_api_leaves_the_landmarks_out_of_a_results_json_where_asked_as_the_readme_says(astronaut_rgb):
    """README "Privacy and data protection": `PipelineOptions(landmarks=False)` is what the commands read; a result
    turned into JSON in the API keeps its landmarks unless asked (`to_dict(landmarks=False)`, `images_document`)."""
    from fervid.inference.options import PipelineOptions
    from fervid.inference.records import images_document

    analyzer = PipelineOptions(landmarks=False).analyzer()
    result = analyzer.analyze_image(astronaut_rgb)
    assert result.faces and all(len(face["landmarks"]) == 5 for face in result.to_dict()["faces"])
    assert [face["landmarks"] for face in result.to_dict(landmarks=False)["faces"]] == [None] * len(result.faces)
    assert result.faces[0].to_dict(landmarks=False)["landmarks"] is None
    doc = images_document([result], analyzer.settings, landmarks=False)
    assert doc["landmarks"] is False and doc["files"][0]["faces"][0]["landmarks"] is None
    assert result.to_dict(landmarks=False)["faces"][0]["box"] == result.to_dict()["faces"][0]["box"]  # same numbers
