"""Reading the tables people keep beside their data (annotated video segments, labelled images): CSV, or tab- or
semicolon-separated, as spreadsheets save them, with each row's line in the file kept for the messages."""

from __future__ import annotations

import codecs
import csv
import locale
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from fervid.inference.file_kinds import Family, FileKind, file_kind

# how to make a CSV of a table kept in a spreadsheet, or in a document, as said where its own file is given instead
# (Apple's Numbers saves no CSV: it exports one)
SAVE_AS_CSV = "save it as CSV (Excel: File > Save As > CSV UTF-8; LibreOffice: File > Save As > Text CSV)"
_SAVE_AS_CSV_FROM = {"numbers": "export it as CSV (Numbers: File > Export To > CSV)"}
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def not_a_text_table(path: Path) -> str | None:
    """What ``path`` is, where its first bytes say it is no text table, and what to do: a spreadsheet's or a word
    processor's own file (a CSV is read, not .xlsx), an archive, a PDF (:func:`file_kind`), an image, a video, or
    other binary data; None where it may be one. Said so that its bytes are never echoed as a header (an .xlsx
    given as a table printed "its columns are PK\\x03\\x04...", a video ~1 KB of control characters)."""
    from fervid.inference.images import NOT_VIDEO_CONTAINERS, image_signature, video_container

    with open(path, "rb") as fh:
        head = fh.read(4096)
    if head.startswith(_UTF16_MARKS):  # UTF-16 text (Excel's "Unicode Text"), as table_text reads it
        return None
    kind = file_kind(path)
    if kind is not None and kind.family is not Family.TEXT:  # (a text file may be a table)
        return _not_a_csv(kind)
    image = image_signature(path)
    if image is not None:
        return f"a {image} image, not a CSV table"
    container = video_container(path)
    if container is not None and container not in NOT_VIDEO_CONTAINERS:
        return f"a video ({container}), not a CSV table"
    if b"\0" in head:
        return "binary data, not a text table (a CSV, or a tab- or semicolon-separated table)"
    return None


def _not_a_csv(kind: FileKind) -> str:
    """A file of ``kind`` given for a table, said with how to make the CSV it holds."""
    if kind.damaged:
        return f"{kind.said} (it cannot be opened), not a CSV table"
    if kind.family is Family.ARCHIVE:
        return (f"{kind.phrase}{f' (of {kind.listing()})' if kind.members else ''}, not a CSV: {kind.unpack} it and "
                "give the CSV inside")
    todo = {Family.SPREADSHEET: _SAVE_AS_CSV_FROM.get(kind.key, SAVE_AS_CSV),
            Family.DOCUMENT: f"copy its table into a spreadsheet and {SAVE_AS_CSV}"}.get(kind.family)
    return f"{kind.phrase}, not a CSV: {todo}" if todo else f"{kind.phrase}, not a CSV table"


class TableEncodingError(ValueError):
    """A table whose bytes are not UTF-8 (nor UTF-16 with its byte-order mark), and read as no one other encoding
    for certain: ``reason`` says why, and to save it as CSV UTF-8; the message names the file too."""

    def __init__(self, path: str | Path, reason: str):
        super().__init__(f"{path}: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Reading:
    """A table's bytes decoded as ``encoding`` without an error; ``plausible``: the text reads as text written in
    that encoding (:func:`_reads_as_written_in`), not as another's bytes mistaken for its characters."""

    encoding: str
    text: str
    plausible: bool


# Japanese text's encodings (as codecs.lookup names them), whose Western bytes misread are kanji or half-width
# katakana among Latin letters
_JAPANESE = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004", "euc_jisx0213"}
# Western single-byte encodings: accented Latin letters, one or two in a row, and these marks
_WESTERN = {"cp1252", "iso8859-1", "iso8859-15", "cp850", "mac-roman"}
_WESTERN_MARKS = set("\u00a0\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u2022\u20ac\u00a3\u00a5"
                     "\u00b0\u00ab\u00bb\u00b7\u00a7\u00bf\u00a1\u00a9\u00ae\u2122\u00d7\u00f7\u00ba\u00aa"
                     "\u00b9\u00b2\u00b3\u00bc\u00bd\u00be\u00b5")


# cp1252's letters of its bytes 0x80-0x9F beside another accented letter: a kanji's bytes read as cp1252 ("顔" is
# "Šç"), never Western words ("Škoda", "cœur")
_RARE_WESTERN_LETTERS = "ŠŒŽšœžŸƒ"
_RARE_WESTERN_NEXT_TO_ACCENTS = rf"[{_RARE_WESTERN_LETTERS}][^\x00-\x7f]|[^\x00-\x7f][{_RARE_WESTERN_LETTERS}]"
# signs that are not set between letters in Western text: Mac Roman's "ë", "ì", "î", "ï", "ß" read as cp1252,
# cp1252's "ã", "Ä", "Ö" read as Mac Roman
_NOT_BETWEEN_LETTERS = "‘“”„•§÷†‡"
# cp1252's letters that are Mac Roman's "ö" and "û" ("Köln" is "Kšln"), before a small letter within a word only in
# Slavic names, which Western text rarely holds (a Mac's German is likelier)
_SLAVIC_BETWEEN_SMALL = "šž"
# Mac Roman's dotless i (cp1252's "õ": "João" is "Joıo") and ligatures ("ß": "Straße" is "Straﬂe")
_NOT_WESTERN_LETTERS = "ıﬁﬂ"


def _misread_western(text: str) -> bool:
    """Whether ``text`` holds what one Western encoding's accented letters read as in another gives, not words:
    Mac Roman's (Excel for Mac's "Comma Separated Values") read as cp1252 (Windows' "CSV"), or these read as
    Mac Roman. An accented capital after a small letter ("café" is "cafŽ" in one, "cafÈ" in the other) or between
    a letter and a small one ("Müller" is "MŸller"); a sign between letters ("Señora" is "Se–ora", "Straße"
    "Stra§e"; an en dash only before a small letter, as "Paris–Berlin" is written); "š" or "ž" between a letter
    and a small one ("Köln" is "Kšln"); a euro sign or a florin before a small letter ("Ärger" is "€rger", "Étape"
    "ƒtape"); a letter Western text does not hold."""
    for before, char, after in zip(" " + text, text, text[1:] + " "):
        if char.isascii():
            continue
        if char.isupper() and (before.islower() or (before.isalpha() and after.islower())):
            return True
        if before.isalpha() and (char in _NOT_BETWEEN_LETTERS and after.isalpha() or char == "–" and after.islower()):
            return True
        if char in _SLAVIC_BETWEEN_SMALL and before.isalpha() and after.islower():
            return True
        if char in "€ƒ" and after.islower() or char in _NOT_WESTERN_LETTERS:
            return True
    return False


# Western or EUC-JP bytes read as cp932: a kanji or kana between Latin letters ("emoção" is "emo", a kanji, "o"), a
# half-width katakana beside a Latin letter ("Ábaco" is "ﾁbaco") or beside a kanji or full-width kana
_HALF_WIDTH_KANA, _FULL_WIDTH_JAPANESE = "\uff61-\uff9f", "\u3040-\u30ff\u4e00-\u9fff"
_WESTERN_READ_AS_JAPANESE = (rf"[A-Za-z][^\x00-\x7f][A-Za-z]"
                             rf"|[A-Za-z][{_HALF_WIDTH_KANA}]|[{_HALF_WIDTH_KANA}][A-Za-z]"
                             rf"|[{_HALF_WIDTH_KANA}][{_FULL_WIDTH_JAPANESE}]"
                             rf"|[{_FULL_WIDTH_JAPANESE}][{_HALF_WIDTH_KANA}]")


def _reads_as_written_in(text: str, encoding: str) -> bool:
    """Whether ``text``, decoded as ``encoding``, reads as text written in it: no control character but tab and
    line breaks, none private or unassigned; Western text's accented letters are Latin, one or two in a row
    (Shift-JIS's "課題①導入" read as cp1252 is "‰Û‘è‡@“±“ü") and not another Western encoding's misread
    (:func:`_misread_western`: Mac Roman's "café" read as cp1252 is "cafŽ"); Japanese text's characters are not set among
    Latin letters (cp1252's "emoção" read as cp932 is "emo", a kanji and "o"; its "Ábaco" is "ﾁbaco")."""
    if any(unicodedata.category(c) in ("Cc", "Co", "Cn", "Cs") and c not in "\t\n\r" for c in text):
        return False
    name = codecs.lookup(encoding).name
    if name in _WESTERN:
        return (all(c.isascii() or c in _WESTERN_MARKS or (c.isalpha() and "LATIN" in unicodedata.name(c, ""))
                    for c in text)
                and re.search(r"[^\x00-\x7f]{3}", text) is None
                and re.search(_RARE_WESTERN_NEXT_TO_ACCENTS, text) is None
                and not _misread_western(text))
    if name in _JAPANESE:
        return re.search(_WESTERN_READ_AS_JAPANESE, text) is None
    # another script's (the locale's: Hebrew, Cyrillic, Greek): its letters, marks, punctuation and currency, and no
    # letter of it joined to a Latin one ("café" read as ISO-8859-8 is "caf" and a Hebrew letter)
    return (all(c.isascii() or unicodedata.category(c)[0] in "LMNPZ" or unicodedata.category(c) == "Sc" for c in text)
            and re.search(r"[A-Za-z][^\W\d_\x00-\x7f]|[^\W\d_\x00-\x7f][A-Za-z]", text) is None)


# Excel's Western "CSV" encodings, Windows' and the Mac's ("Comma Separated Values"): most Western text reads as text
# in both (cp1252's "l’arbre" is Mac Roman's "líarbre"), so where both do, the one tried first is taken
_EXCEL_WESTERN = ("cp1252", "mac-roman")


def _other_encodings() -> list[str]:
    """The encodings a table that is not UTF-8 is tried in, in turn: this computer's own (its locale's, where that
    is not UTF-8 or ASCII), then those Excel's "CSV" is saved in: on Windows in Japanese (cp932, Shift-JIS) and in
    Western languages (cp1252), and on a Mac (Mac Roman; first on a Mac, where that is the likelier)."""
    tried = []
    # the locale's own encoding, whatever Python's UTF-8 mode says (locale.getencoding, 3.11+; 3.10 has only
    # getpreferredencoding, which UTF-8 mode turns into "utf-8" and, from 3.11, warns of)
    own = locale.getencoding() if hasattr(locale, "getencoding") else locale.getpreferredencoding(False)
    excel = ("mac-roman", "cp932", "cp1252") if sys.platform == "darwin" else ("cp932", "cp1252", "mac-roman")
    for encoding in (own, *excel):
        name = codecs.lookup(encoding).name
        if name not in ("utf-8", "ascii") and name not in tried:
            tried.append(name)
    return tried


def table_readings(data: bytes) -> list[Reading]:
    """The ways a table's bytes read as text: UTF-16 where its byte-order mark says so (Excel's "Unicode Text");
    UTF-8, with the byte-order mark Excel's "CSV UTF-8" starts with dropped; else each of :func:`_other_encodings`
    the bytes decode in without an error (none, where they decode in neither UTF)."""
    if data.startswith(_UTF16_MARKS):
        try:
            return [Reading("utf-16", data.decode("utf-16"), True)]
        except UnicodeDecodeError:
            return []
    try:
        return [Reading("utf-8", data.decode("utf-8-sig"), True)]
    except UnicodeDecodeError:
        pass
    readings = []
    for encoding in _other_encodings():
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        readings.append(Reading(encoding, text, _reads_as_written_in(text, encoding)))
    return readings


def decided_text(path: str | Path, data: bytes, readings: list[Reading]) -> str:
    """The text of the one plausible reading of ``readings`` (several that read alike are one; of cp1252's and Mac
    Roman's, the first), else :class:`TableEncodingError`: a table that is not UTF-8 and reads as text in no
    encoding tried, or in several that read it differently, is refused, never read as mojibake."""
    excel_western = [reading for reading in readings if reading.plausible and reading.encoding in _EXCEL_WESTERN]
    plausible = {reading.text: reading for reading in readings
                 if reading.plausible and reading not in excel_western[1:]}
    if len(plausible) == 1:
        return next(iter(plausible))
    if data.startswith(_UTF16_MARKS):
        raise TableEncodingError(path, f"its byte-order mark says UTF-16, but it is not; {SAVE_AS_CSV}")
    if not plausible:
        tried = ", ".join(["UTF-8", *_other_encodings()])
        raise TableEncodingError(path, f"not text in any encoding fervid knows ({tried}); {SAVE_AS_CSV}")
    first, second = list(plausible.values())[:2]
    # the first line the two readings differ on, as each reads it: what tells the user which is right
    line = next((i for i, (a, b) in enumerate(zip(first.text.splitlines(), second.text.splitlines())) if a != b), 0)
    raise TableEncodingError(path, f"not UTF-8, and its encoding cannot be told: line {line + 1} reads as "
                                   f"{first.text.splitlines()[line]!r} in {first.encoding} and as "
                                   f"{second.text.splitlines()[line]!r} in {second.encoding}; {SAVE_AS_CSV}")


def table_text(path: Path) -> str:
    """The table's text, read as :func:`table_readings` and :func:`decided_text` say: UTF-8 or UTF-16 as they are,
    else the one other encoding it reads plausibly in (Japanese Excel's cp932, Western Excel's cp1252, Excel for
    Mac's Mac Roman, this computer's own); :class:`TableEncodingError` where there is not one."""
    data = path.read_bytes()
    return decided_text(path, data, table_readings(data))


def table_rows(text: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header and the non-empty rows, each with the line of the file it starts on (a quoted cell may hold line
    breaks; blank lines and rows of empty cells, as spreadsheets save them, are skipped). The separator (comma, tab
    or semicolon) is sniffed from the header. Lines end in LF, CRLF or CR alone (Excel for Mac's "Comma Separated
    Values")."""
    first = re.split(r"\r\n?|\n", text, maxsplit=1)[0]
    try:
        dialect = csv.Sniffer().sniff(first, delimiters=",\t;")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(text.splitlines(keepends=True), dialect)
    header: list[str] = []
    rows: list[tuple[int, list[str]]] = []
    begins = reader.line_num + 1
    for row in reader:
        if any(cell.strip() for cell in row):
            if header:
                rows.append((begins, row))
            else:
                header = row
        begins = reader.line_num + 1
    return header, rows


def table_header(path: str | Path) -> list[str]:
    """A table's header (its first line), read as :func:`table_text` reads the table (UTF-16 where its byte-order
    mark says so), or [] where the file is not text (FER2013's .csv.gz) or cannot be read: what tells one kind of
    table from another without reading it all."""
    try:
        with open(path, "rb") as f:
            utf16 = f.read(2) in _UTF16_MARKS  # Excel's "Unicode Text": its NUL bytes are text, not binary
            f.seek(0)
            if utf16:
                first = f.read(20_000).decode("utf-16", errors="replace").split("\n", 1)[0]
            else:
                line = f.readline(10_000)
                if b"\n" not in line:  # lines ended by CR alone (Excel for Mac's "Comma Separated Values")
                    line = line.split(b"\r", 1)[0]
                if b"\0" in line:  # binary, such as FER2013's .csv.gz (Python 3.10's csv raises on it)
                    return []
                plausible = [reading.text for reading in table_readings(line) if reading.plausible]
                if not plausible:  # (the table itself, read, is refused naming its encoding)
                    return []
                first = plausible[0]
        header, _ = table_rows(first)
    except (OSError, csv.Error):
        return []
    return header


def find_column(header: list[str], accepted: tuple[str, ...], unless: tuple[str, ...] = ()) -> int | None:
    """The index of the column named one of ``accepted``, compared without case, with spaces, underscores and hyphens
    alike ("Start Time", "start_time" and "start-time" are one name): an exact name first ("emotion" before "emotion
    confidence"), else a name that starts with one and more words ("video_file", "start_ms", "Begin Time - msec"),
    none of them one of ``unless`` (("frame",) leaves "start_frame" out, a frame number where a time is wanted); in
    each, the names in ``accepted``'s order ("video" before "clip" where a table has both). None where none is."""
    words = [column_words(column) for column in header]
    for exact in (True, False):
        for name in accepted:
            for index, word in enumerate(words):
                if word == name if exact else (word.startswith(f"{name} ") and
                                               not set(re.findall(r"[a-z]+", word[len(name):])) & set(unless)):
                    return index
    return None


def column_words(name: object) -> str:
    """A column's name as :func:`find_column` compares it: lower case, each run of spaces, underscores and hyphens
    one space."""
    return re.sub(r"[\s_\-]+", " ", str(name)).strip().lower()
