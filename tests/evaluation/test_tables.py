"""Reading the tables people keep beside their data: a file given for a table that is none (a workbook, a video, a
folder) is said as what it is, never echoed."""

import sys
import zipfile

import pytest

from fervid.evaluation.datasets import DatasetError, load_fer2013, load_label_table
from fervid.evaluation.segments import read_annotations, read_time_segments
from fervid.evaluation.tables import not_a_text_table, table_header, table_rows, table_text
from fervid.inference.video import TimeSegment, sample_video
from conftest import needs_sample_clip


def office_file(path, parts):
    """A zip holding ``parts`` (name -> text), as an Office Open XML or OpenDocument file is one."""
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


@pytest.fixture
def not_tables(tmp_path):
    """Files a researcher gives for a table: (file, what fervid says it is)."""
    workbook = office_file(tmp_path / "minutes.xlsx", {"[Content_Types].xml": "<Types/>",
                                                       "xl/workbook.xml": "<workbook/>",
                                                       "xl/worksheets/sheet1.xml": "<worksheet/>"})
    document = office_file(tmp_path / "tasks.docx", {"[Content_Types].xml": "<Types/>",
                                                     "word/document.xml": "<document/>"})
    calc = office_file(tmp_path / "tasks.ods", {"mimetype": "application/vnd.oasis.opendocument.spreadsheet",
                                                "content.xml": "<office/>"})
    archive = office_file(tmp_path / "videos.zip", {"Interview 2.MP4": "", "minutes.csv": "start,end\n"})
    damaged = tmp_path / "consent.docx"
    damaged.write_bytes(b"PK\x03\x04fake word doc")
    old = tmp_path / "old.xls"
    old.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500))
    pdf = tmp_path / "plan.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    png = tmp_path / "face.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    binary = tmp_path / "data.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    return [(workbook, "an Excel workbook, not a CSV: save it as CSV (Excel: File > Save As > CSV UTF-8"),
            (document, "a Word document, not a CSV: copy its table into a spreadsheet and save it as CSV"),
            (calc, "an OpenDocument spreadsheet (.ods), not a CSV: save it as CSV"),
            (archive, "a ZIP archive (of Interview 2.MP4, minutes.csv), not a CSV: unzip it and give the CSV "
                      "inside"),
            (damaged, "a damaged Word document (it cannot be opened), not a CSV table"),
            (old, "an Excel 97-2003 workbook (.xls) or another old Office file, not a CSV: save it as CSV"),
            (pdf, "a PDF document, not a CSV"), (png, "a PNG image, not a CSV table"),
            (sample_video(), "a video (MP4/MOV), not a CSV table"), (binary, "binary data, not a text table")]


def printable(text: str) -> bool:
    return all(ch.isprintable() for ch in text)


@needs_sample_clip
def test_a_file_that_is_no_table_is_said_as_what_it_is_and_what_to_do(not_tables):
    """`fervid video --segments minutes.xlsx` printed "its columns are PK\\x03\\x04\\x14..." (a .MOV: ~1 KB of
    control characters) for its header."""
    for path, what in not_tables:
        assert not_a_text_table(path).startswith(what), path
        with pytest.raises(DatasetError) as raised:
            read_time_segments(path)
        message = str(raised.value)
        assert message.startswith(f"{path}: {what}") and "segments file: a table of start,end,name" in message
        assert printable(message) and len(message) < 400, message
        with pytest.raises(DatasetError, match="annotations file: a table of video,start,end,emotion"):
            read_annotations(path)
        with pytest.raises(DatasetError) as raised:
            load_label_table(path)
        assert str(raised.value).startswith(f"{path}: {what}") and printable(str(raised.value))
        with pytest.raises(DatasetError) as raised:
            load_fer2013(path)
        assert str(raised.value).startswith(f"{path}: {what}") and printable(str(raised.value))


def test_a_folder_given_for_a_table_is_said_to_be_one(tmp_path):
    """`--segments Interviews` (a folder of videos) said "no such segments file"."""
    (tmp_path / "Interviews").mkdir()
    with pytest.raises(DatasetError, match=r"Interviews: a folder, not a segments file \(a CSV: start,end,name\)"):
        read_time_segments(tmp_path / "Interviews")
    with pytest.raises(DatasetError, match=r"Interviews: a folder, not an annotations file"):
        read_annotations(tmp_path / "Interviews")
    with pytest.raises(DatasetError, match=r"gone\.csv: no such segments file"):
        read_time_segments(tmp_path / "gone.csv")


def test_text_tables_are_still_read(tmp_path):
    """A CSV, a table fervid wrote under a workbook's name, and Excel's "Unicode Text" (UTF-16, tab-separated)."""
    named_as_a_workbook = tmp_path / "my faces.xlsx"
    named_as_a_workbook.write_text("start,end,name\n0,1,A\n", encoding="utf-8")
    unicode_text = tmp_path / "tasks.txt"
    unicode_text.write_text("start\tend\tname\n0\t1,5\tÉtape\n", encoding="utf-16")
    for path in (named_as_a_workbook, unicode_text):
        assert not_a_text_table(path) is None
    assert read_time_segments(named_as_a_workbook) == [TimeSegment(0.0, 1.0, "A")]
    assert read_time_segments(unicode_text) == [TimeSegment(0.0, 1.5, "Étape")]
    assert table_rows(table_text(unicode_text))[0] == ["start", "end", "name"]


def test_a_japanese_excel_csv_is_read_as_shift_jis(tmp_path):
    """Japanese Excel's "CSV" is cp932 (Shift-JIS): it was read as cp1252, and `fervid video --segments` named the
    segment `課題①導入` "‰Û‘è‡@“±“ü", unsaid. A Western Excel's (cp1252) is read as before."""
    japanese = tmp_path / "segments.csv"
    japanese.write_bytes("start,end,name\n0,1.5,課題①導入\n1.5,3,タスク2_説明\n".encode("cp932"))
    assert read_time_segments(japanese) == [TimeSegment(0.0, 1.5, "課題①導入"), TimeSegment(1.5, 3.0, "タスク2_説明")]
    western = tmp_path / "western.csv"
    western.write_bytes("start;end;name\n0;1,5;introdução\n1,5;3;cœur, Škoda\n".encode("cp1252"))
    assert read_time_segments(western) == [TimeSegment(0.0, 1.5, "introdução"), TimeSegment(1.5, 3.0, "cœur, Škoda")]


@pytest.mark.parametrize("platform", ["linux", "win32", "darwin"])
def test_an_excel_for_mac_csv_is_read_as_mac_roman(tmp_path, monkeypatch, platform):
    """Excel for Mac's "Comma Separated Values" is Mac Roman, its lines ended by CR alone: it was read as cp1252
    ("Müller" was "MŸller", "Señora" "Se–ora", "Ärger" "€rger", "café.mp4" "cafŽ.mp4") or refused ("Begrüßung",
    "Über"), and a semicolon-separated one was split at its commas. Windows' "CSV" (cp1252) is read as before, on a
    Mac too, where Mac Roman is tried first."""
    monkeypatch.setattr(sys, "platform", platform)
    for word in ("café.mp4", "Müller", "Señora", "Ärger", "Begrüßung", "Über", "Straße", "Köln"):
        mac = tmp_path / "mac.csv"
        mac.write_bytes(f"name\r{word}\r".encode("mac_roman"))
        assert table_rows(table_text(mac)) == (["name"], [(2, [word])])
    for word in ("café", "Müller", "Señora", "Ärger", "Straße", "Björk"):
        windows = tmp_path / "windows.csv"
        windows.write_bytes(f"name\r\n{word}\r\n".encode("cp1252"))
        assert table_rows(table_text(windows)) == (["name"], [(2, [word])])
    german = tmp_path / "german.csv"  # Excel for Mac in a German locale: semicolons, decimal commas
    german.write_bytes("start;end;name\r0;1,5;Begrüßung\r1,5;3;Ärger über Müller\r".encode("mac_roman"))
    assert read_time_segments(german) == [TimeSegment(0.0, 1.5, "Begrüßung"), TimeSegment(1.5, 3.0,
                                                                                            "Ärger über Müller")]
    assert table_header(german) == ["start", "end", "name"]


def test_a_table_whose_encoding_cannot_be_told_is_refused_not_read_as_mojibake(tmp_path, monkeypatch):
    """A table that is not UTF-8 was read as cp1252 whatever it held (errors replaced): one that reads as text in
    two encodings, differently, or in none, is refused, naming the file, every encoding tried and what to do."""
    monkeypatch.setattr(sys, "platform", "linux")  # (on a Mac, Mac Roman is tried first, and said so)
    either = tmp_path / "either.csv"  # cp1252's "_émoi" is "_", a kanji and "oi" in cp932
    either.write_bytes("start,end,name\n0,1,_émoi\n".encode("cp1252"))
    with pytest.raises(DatasetError, match=r"either\.csv: not UTF-8, and its encoding cannot be told: line 2 reads "
                                           r"as .* in cp932 and as '0,1,_émoi' in cp1252; save it as CSV \(Excel: "
                                           r"File > Save As > CSV UTF-8"):
        read_time_segments(either)
    russian = tmp_path / "russian.csv"
    russian.write_bytes("start,end,name\n0,1,Привет\n".encode("koi8_r"))
    with pytest.raises(DatasetError, match=r"russian\.csv: not text in any encoding fervid knows \(UTF-8, cp932, "
                                           r"cp1252, mac-roman\); save it as CSV"):
        read_time_segments(russian)
    monkeypatch.setattr(sys, "platform", "darwin")
    with pytest.raises(DatasetError, match=r"russian\.csv: not text in any encoding fervid knows \(UTF-8, mac-roman, "
                                           r"cp932, cp1252\); save it as CSV"):
        read_time_segments(russian)
    not_utf16 = tmp_path / "not_utf16.txt"
    not_utf16.write_bytes(b"\xff\xfes\x00\x00\xd8")  # a byte-order mark, then a lone surrogate
    with pytest.raises(DatasetError, match=r"not_utf16\.txt: its byte-order mark says UTF-16, but it is not"):
        read_time_segments(not_utf16)
