"""What a file handed over for the wrong thing is: an archive, a spreadsheet, a document, a drawing or text, told by
its first bytes (and a ZIP file's listing). One recogniser for every place a person may give such a file, an image
or a video (`fervid image report.docx`) as a table (`--segments minutes.xlsx`); each place words its own advice
from the kind it returns."""

from __future__ import annotations

import enum
import fnmatch
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple


class Family(enum.Enum):
    """What a kind of file is for, which says what to do with it instead."""

    ARCHIVE = "archive"  # files packed in one: unpack it
    SPREADSHEET = "spreadsheet"  # a table in an application's own format: save it as CSV
    DOCUMENT = "document"  # pages (a table in one is copied out)
    DRAWING = "drawing"  # a vector picture: convert it to an image
    TEXT = "text"  # plain text


@dataclass(frozen=True)
class FileKind:
    """A kind of file (:data:`FILE_KINDS`), and what one file of it showed of itself."""

    key: str  # "zip", "xlsx", "pdf", ...
    phrase: str  # what it is, said for a person: "a ZIP archive", "an Excel workbook"
    family: Family
    unpack: str = ""  # an archive's: the verb for taking its files out ("unzip", "extract")
    damaged: bool = False  # a ZIP file whose listing cannot be read (cut short): its kind is its name's
    members: tuple[str, ...] = ()  # a ZIP archive's files, as listed

    @property
    def said(self) -> str:
        """The phrase, as "a damaged ..." where the file is damaged."""
        return f"a damaged {self.phrase.split(' ', 1)[1]}" if self.damaged else self.phrase

    def listing(self, shown: int = 3) -> str:
        """An archive's first ``shown`` files, and how many more ("a.mp4, b.mp4 and 2 more"); "" where none were
        listed."""
        rest = len(self.members) - shown
        return ", ".join(self.members[:shown]) + (f" and {rest} more" if rest > 0 else "")


# every kind of file fervid recognises as none of an image, a video or a text table
FILE_KINDS = {kind.key: kind for kind in (
    FileKind("zip", "a ZIP archive", Family.ARCHIVE, unpack="unzip"),
    FileKind("rar", "a RAR archive", Family.ARCHIVE, unpack="extract"),
    FileKind("7z", "a 7-Zip archive", Family.ARCHIVE, unpack="extract"),
    FileKind("gzip", "a gzip-compressed file", Family.ARCHIVE, unpack="decompress"),
    FileKind("xlsx", "an Excel workbook", Family.SPREADSHEET),
    FileKind("ods", "an OpenDocument spreadsheet (.ods)", Family.SPREADSHEET),
    FileKind("numbers", "an Apple Numbers (or Pages) file", Family.SPREADSHEET),
    # (Office 97-2003's Compound File Binary: its streams' names, which tell Excel from Word, lie deeper)
    FileKind("ole", "an Excel 97-2003 workbook (.xls) or another old Office file", Family.SPREADSHEET),
    FileKind("docx", "a Word document", Family.DOCUMENT),
    FileKind("pptx", "a PowerPoint presentation", Family.DOCUMENT),
    FileKind("odt", "an OpenDocument text (.odt)", Family.DOCUMENT),
    FileKind("odp", "an OpenDocument presentation (.odp)", Family.DOCUMENT),
    FileKind("opendocument", "an OpenDocument file", Family.DOCUMENT),
    FileKind("pdf", "a PDF document", Family.DOCUMENT),
    FileKind("rtf", "an RTF document", Family.DOCUMENT),
    FileKind("html", "a web page (HTML)", Family.DOCUMENT),
    FileKind("svg", "an SVG drawing", Family.DRAWING),
    FileKind("text", "a text file", Family.TEXT))}

# a file's first bytes, and the kind they make it
_MAGIC = ((b"%PDF-", "pdf"), (b"Rar!\x1a\x07", "rar"), (b"7z\xbc\xaf'\x1c", "7z"), (b"\x1f\x8b", "gzip"),
          (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "ole"), (b"{\\rtf", "rtf"))
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # (the second: an empty one)


class _ZipSign(NamedTuple):
    """What makes a ZIP file an application's own: a member's name (a pattern) or the text of its "mimetype"
    member (OpenDocument's, as a prefix); where its listing cannot be read, its extension."""

    key: str
    member: str = ""
    mimetype: str = ""
    suffixes: tuple[str, ...] = ()


_OPENDOCUMENT = "application/vnd.oasis.opendocument."
_ZIP_SIGNS = (_ZipSign("xlsx", member="xl/*", suffixes=(".xlsx", ".xlsm")),
              _ZipSign("docx", member="word/*", suffixes=(".docx", ".docm")),
              _ZipSign("pptx", member="ppt/*", suffixes=(".pptx", ".pptm")),
              _ZipSign("ods", mimetype=f"{_OPENDOCUMENT}spreadsheet", suffixes=(".ods",)),
              _ZipSign("odt", mimetype=f"{_OPENDOCUMENT}text", suffixes=(".odt",)),
              _ZipSign("odp", mimetype=f"{_OPENDOCUMENT}presentation", suffixes=(".odp",)),
              _ZipSign("opendocument", mimetype=_OPENDOCUMENT),
              _ZipSign("numbers", member="Index/*.iwa", suffixes=(".numbers", ".pages")))


def first_bytes(source, count: int) -> bytes | None:
    """The first ``count`` bytes of a file (a path) or a binary stream (read from its start); None where it cannot
    be read."""
    try:
        if isinstance(source, (str, os.PathLike)):
            with open(source, "rb") as fh:
                return fh.read(count)
        source.seek(0)
        return source.read(count)
    except OSError:
        return None


def file_kind(source) -> FileKind | None:
    """What a file (a path or a binary stream) is, by its first bytes and a ZIP file's listing, where it is one of
    :data:`FILE_KINDS`; None where they say nothing known (an image or a video is told by their own signatures)."""
    head = first_bytes(source, 512)
    if not head:
        return None
    if head.startswith(_ZIP_MAGIC):
        return _zip_kind(source)
    key = next((key for magic, key in _MAGIC if head.startswith(magic)), None)
    return FILE_KINDS[key] if key else _text_kind(head)


def _zip_kind(source) -> FileKind:
    """What a ZIP file is: an Office, OpenDocument or Apple iWork file, or an archive (its files listed)."""
    try:
        if not isinstance(source, (str, os.PathLike)):
            source.seek(0)
        with zipfile.ZipFile(source) as archive:
            names = archive.namelist()
            mimetype = _mimetype(archive) if "mimetype" in names else ""
    except (OSError, zipfile.BadZipFile):  # damaged, or cut short (its listing is at its end): named by its name
        suffix = Path(source).suffix.lower() if isinstance(source, (str, os.PathLike)) else ""
        key = next((sign.key for sign in _ZIP_SIGNS if suffix in sign.suffixes), "zip")
        return replace(FILE_KINDS[key], damaged=True)
    for sign in _ZIP_SIGNS:
        if (sign.member and any(fnmatch.fnmatchcase(name, sign.member) for name in names)
                or sign.mimetype and mimetype.startswith(sign.mimetype)):
            return FILE_KINDS[sign.key]
    # (its folders, and the copies of macOS's file attributes its Finder adds, are not what it holds)
    files = tuple(name for name in names if not name.endswith("/") and not name.startswith("__MACOSX/"))
    return replace(FILE_KINDS["zip"], members=files)


def _mimetype(archive: zipfile.ZipFile) -> str:
    """An OpenDocument file's type, its "mimetype" member's text; "" where it cannot be read."""
    try:
        return archive.read("mimetype")[:100].decode("ascii", "replace").strip()
    except (OSError, zipfile.BadZipFile, zlib.error, RuntimeError, NotImplementedError):  # encrypted, ...
        return ""


def _text_kind(head: bytes) -> FileKind | None:
    """Text's kind, an SVG drawing, a web page or a text file, where a file's first bytes are UTF-8 text."""
    try:  # (a character cut at the last byte read is no sign of binary data)
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = head[:exc.start].decode("utf-8") if exc.start >= len(head) - 3 else ""
    if not text or any(not (c.isprintable() or c in "\t\n\r\f") for c in text.lstrip("\ufeff")):
        return None
    return FILE_KINDS["svg" if "<svg" in text.lower() else
                      "html" if re.match(r"\s*<(!doctype html|html)", text, re.I) else "text"]
