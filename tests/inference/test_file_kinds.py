"""One recogniser of the files people hand over for the wrong thing (a .zip for a video, an .xlsx for a CSV): each
kind it knows, made as a real small file, is told as the same kind, and said with its own advice where an image or
a video was wanted and where a table was."""

import gzip
import io
import zipfile

import pytest

from fervid.evaluation.datasets import DatasetError
from fervid.evaluation.segments import read_time_segments
from fervid.evaluation.tables import SAVE_AS_CSV, not_a_text_table
from fervid.inference.file_kinds import FILE_KINDS, file_kind
from fervid.inference.images import ImageLoadError, load_image, not_media_said
from fervid.inference.video import VideoError, open_video

COPY_OUT = f"copy its table into a spreadsheet and {SAVE_AS_CSV}"


def zip_of(members):
    """A writer of a real ZIP file holding ``members`` (name -> text)."""
    def write(path):
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in members.items():
                archive.writestr(name, text)
    return write


def bytes_of(data):
    return lambda path: path.write_bytes(data)


def opendocument(kind):
    """An OpenDocument file's parts: its mimetype first, stored, as LibreOffice writes it."""
    return zip_of({"mimetype": f"application/vnd.oasis.opendocument.{kind}", "content.xml": "<office:document/>",
                   "META-INF/manifest.xml": "<manifest/>"})


# a kind's file, as named and made, what the recogniser says it is, and what is said of it given as an image (or a
# video) and as a table (None: it may be one)
KINDS = [
    ("videos.zip", zip_of({"Interviews/": "", "Interviews/Interview 1.mp4": "", "Interviews/Interview 2.mp4": "",
                           "__MACOSX/Interviews/._Interview 1.mp4": "", "minutes.csv": "start,end\n",
                           "consent.pdf": ""}),
     "zip", "a ZIP archive of Interviews/Interview 1.mp4, Interviews/Interview 2.mp4, minutes.csv and 1 more: unzip "
            "it first",
     "a ZIP archive (of Interviews/Interview 1.mp4, Interviews/Interview 2.mp4, minutes.csv and 1 more), not a CSV: "
     "unzip it and give the CSV inside"),
    ("videos.rar", bytes_of(b"Rar!\x1a\x07\x01\x00" + bytes(100)), "rar", "a RAR archive: extract it first",
     "a RAR archive, not a CSV: extract it and give the CSV inside"),
    ("videos.7z", bytes_of(b"7z\xbc\xaf'\x1c\x00\x04" + bytes(100)), "7z", "a 7-Zip archive: extract it first",
     "a 7-Zip archive, not a CSV: extract it and give the CSV inside"),
    ("minutes.csv.gz", bytes_of(gzip.compress(b"start,end\n0,1\n", mtime=0)), "gzip",
     "a gzip-compressed file: decompress it first",
     "a gzip-compressed file, not a CSV: decompress it and give the CSV inside"),
    ("scores.xlsx", zip_of({"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>",
                            "xl/worksheets/sheet1.xml": "<worksheet/>"}),
     "xlsx", "an Excel workbook", f"an Excel workbook, not a CSV: {SAVE_AS_CSV}"),
    ("scores.ods", opendocument("spreadsheet"), "ods", "an OpenDocument spreadsheet (.ods)",
     f"an OpenDocument spreadsheet (.ods), not a CSV: {SAVE_AS_CSV}"),
    ("scores.numbers", zip_of({"Index/Document.iwa": "", "Index/CalculationEngine.iwa": "",
                               "Metadata/Properties.plist": ""}),
     "numbers", "an Apple Numbers (or Pages) file",
     "an Apple Numbers (or Pages) file, not a CSV: export it as CSV (Numbers: File > Export To > CSV)"),
    ("scores.xls", bytes_of(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)), "ole",
     "an Excel 97-2003 workbook (.xls) or another old Office file",
     f"an Excel 97-2003 workbook (.xls) or another old Office file, not a CSV: {SAVE_AS_CSV}"),
    ("consent.docx", zip_of({"[Content_Types].xml": "<Types/>", "word/document.xml": "<w:document/>"}),
     "docx", "a Word document", f"a Word document, not a CSV: {COPY_OUT}"),
    ("talk.pptx", zip_of({"[Content_Types].xml": "<Types/>", "ppt/presentation.xml": "<p:presentation/>"}),
     "pptx", "a PowerPoint presentation", f"a PowerPoint presentation, not a CSV: {COPY_OUT}"),
    ("consent.odt", opendocument("text"), "odt", "an OpenDocument text (.odt)",
     f"an OpenDocument text (.odt), not a CSV: {COPY_OUT}"),
    ("talk.odp", opendocument("presentation"), "odp", "an OpenDocument presentation (.odp)",
     f"an OpenDocument presentation (.odp), not a CSV: {COPY_OUT}"),
    ("chart.odg", opendocument("graphics"), "opendocument", "an OpenDocument file",
     f"an OpenDocument file, not a CSV: {COPY_OUT}"),
    ("plan.pdf", bytes_of(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n"), "pdf", "a PDF document",
     f"a PDF document, not a CSV: {COPY_OUT}"),
    ("plan.rtf", bytes_of(b"{\\rtf1\\ansi\\deff0 {\\fonttbl {\\f0 Times;}} Hello}\n"), "rtf", "an RTF document",
     f"an RTF document, not a CSV: {COPY_OUT}"),
    ("table.html", bytes_of(b"<!DOCTYPE html>\n<html><body><table><tr><td>0</td></tr></table></body></html>\n"),
     "html", "a web page (HTML)", f"a web page (HTML), not a CSV: {COPY_OUT}"),
    ("logo.svg", bytes_of(b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>\n'),
     "svg", "an SVG drawing: convert it to PNG", "an SVG drawing, not a CSV table"),
    ("notes.png", bytes_of("Participant 3: smiled at 0:41 (Émilie)\n".encode()), "text", "a text file", None),
]


def test_every_kind_is_made_and_said_below():
    assert sorted(key for _, _, key, _, _ in KINDS) == sorted(FILE_KINDS)


@pytest.mark.parametrize("name, write, key, as_image, as_table", KINDS, ids=[case[2] for case in KINDS])
def test_each_kind_is_told_and_said_where_an_image_a_video_and_a_table_were_wanted(tmp_path, name, write, key,
                                                                                 as_image, as_table):
    path = tmp_path / name
    write(path)
    assert file_kind(path).key == key and file_kind(io.BytesIO(path.read_bytes())).key == key  # (an upload)
    assert not_media_said(path) == as_image
    with pytest.raises(ImageLoadError) as image:
        load_image(path)
    assert str(image.value) == f"{path}: not an image fervid can read ({as_image})"
    with pytest.raises(VideoError) as video:
        open_video(path)
    assert str(video.value) == f"{path}: not a video fervid can read ({as_image})"
    assert not_a_text_table(path) == as_table
    if as_table is not None:
        with pytest.raises(DatasetError) as table:
            read_time_segments(path)
        assert str(table.value) == f"{path}: {as_table} (segments file: a table of start,end,name)"


@pytest.mark.parametrize("name, key", [("consent.docx", "docx"), ("scores.xlsx", "xlsx"), ("scores.ods", "ods"),
                                       ("videos.zip", "zip"), ("consent.txt", "zip")])
def test_a_zip_file_cut_short_is_said_damaged_as_its_name_says_it_was(tmp_path, name, key):
    """A download cut short has no listing (a ZIP's is at its end): what it was meant to be is its name's."""
    path = tmp_path / name
    zip_of({"word/document.xml": "<w:document/>" * 100})(path)
    path.write_bytes(path.read_bytes()[:60])
    kind = file_kind(path)
    assert (kind.key, kind.damaged) == (key, True)
    phrase = FILE_KINDS[key].phrase.split(" ", 1)[1]
    assert not_media_said(path) == f"a damaged {phrase}"
    assert not_a_text_table(path) == f"a damaged {phrase} (it cannot be opened), not a CSV table"


def test_what_no_kind_is_is_left_to_its_own_readers(tmp_path):
    """A CSV is text, to be read as a table; binary data of no known kind is no kind."""
    csv = tmp_path / "minutes.csv"
    csv.write_text("start,end,name\n0,1,A\n")
    data = tmp_path / "data.bin"
    data.write_bytes(bytes(range(256)) * 4)
    assert file_kind(csv) == FILE_KINDS["text"] and not_a_text_table(csv) is None
    assert file_kind(data) is None and not_media_said(data) is None
    assert not_a_text_table(data).startswith("binary data, not a text table")
