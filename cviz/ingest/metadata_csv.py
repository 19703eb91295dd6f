"""Reading a collection's metadata CSV the way people actually write them.

Accepted: UTF-8 with or without BOM; UTF-16 with a BOM (spreadsheet "Unicode text" exports, which are
tab-separated); commas, tabs or semicolons between fields (the header line decides: spreadsheet
programs write tabs for "Unicode text" and semicolons where the comma is the decimal mark); UTF-8
with a few stray bytes (replaced by U+FFFD and counted); otherwise Windows-1252/latin-1 (reported);
fields of any length (a 200 KB description is real; the file's size is capped where it is read); ``\\n``, ``\\r\\n``
and old Mac ``\\r`` line endings; quoted fields with embedded commas and newlines. Rows are keyed by
the filename column; the first row for a duplicated filename wins and the others are reported.
Lookup is a dict, so matching N images to M rows is O(N + M) (the original tool's nested loop
spent minutes here).
"""

from __future__ import annotations

import csv
import io
import os
import stat
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass, field
from typing import Any

from cviz.errors import MetadataError
from cviz.settings import settings
from cviz.storage import is_local


@dataclass
class MetadataTable:
    source: str
    columns: list[str]
    rows: dict[str, dict[str, str]]  # filename -> row
    encoding: str
    duplicates: list[dict] = field(default_factory=list)  # {"filename", "line", "first_line"}
    blank_filename_lines: list[int] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # filename -> the line its row starts on
    _nfc: dict[str, dict[str, str]] | None = field(default=None, repr=False, compare=False)

    def lookup(self, relpath: str) -> dict[str, str] | None:
        """The row for an image: exact relative path first, then its base name.

        Both sides are compared in Unicode NFC, so ``é`` typed in a spreadsheet matches the
        decomposed ``e`` + accent that macOS file names use.
        """
        if self._nfc is None:
            self._nfc = {unicodedata.normalize("NFC", k): v for k, v in self.rows.items()}
        relpath = unicodedata.normalize("NFC", relpath)
        row = self._nfc.get(relpath)
        if row is None and "/" in relpath:
            row = self._nfc.get(relpath.rsplit("/", 1)[1])
        return row


# The stdlib reader refuses fields over 128 KiB by default; the file is size-capped when read
# (read_metadata_bytes), so no field limit is needed here.
csv.field_size_limit(2**31 - 1)


def decode_text(data: bytes, source: str) -> tuple[str, str]:
    """Decode CSV bytes; returns (text, encoding used).

    A UTF-8 file with a few invalid bytes (one stray Latin-1 character in a clean export) is kept as
    UTF-8 with those bytes replaced, and says how many; a file that is mostly not UTF-8 is cp1252.
    """
    if data.startswith(b"\xef\xbb\xbf"):
        try:
            return data[3:].decode("utf-8", errors="strict"), "utf-8-sig"
        except UnicodeDecodeError:
            data = data[3:]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise MetadataError(f"metadata CSV {source} starts with a UTF-16 byte order mark but is not valid "
                                f"UTF-16 (byte {exc.start})") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 127 and ch != "\ufffd")
    if good >= bad:  # more valid multi-byte characters than invalid bytes: a UTF-8 file with strays
        line = data.count(b"\n", 0, first_bad) + 1
        return text, f"utf-8 ({bad} invalid byte(s) replaced by U+FFFD, first on line {line})"
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


# What a spreadsheet file is when it is not text: (leading bytes, what it is).
NOT_TEXT = ((b"PK\x03\x04", "an Excel workbook (.xlsx), OpenDocument spreadsheet or other zip file"),
            (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Excel workbook (.xls)"),
            (b"%PDF", "a PDF document"))
DELIMITERS = (",", "\t", ";")


def sniff_delimiter(text: str) -> str:
    """The field separator of the header line: the most frequent of comma, tab and semicolon
    outside quotes (a comma on a tie, or when there is none)."""
    line, quoted = [], False
    for ch in text[:65536]:
        if ch == '"':
            quoted = not quoted
        elif ch in "\r\n" and not quoted:
            break
        elif not quoted:
            line.append(ch)
    counts = {d: line.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])  # max keeps the first (the comma) on a tie
    return best if counts[best] > 0 else ","


def _text(data: bytes, source: str) -> tuple[str, str]:
    """The CSV's text and encoding, or a refusal naming what the file is instead (empty, a workbook)."""
    if not data.strip():
        raise MetadataError(f"metadata CSV {source} is empty (no header row)")
    for magic, kind in NOT_TEXT:
        if data.startswith(magic):
            raise MetadataError(f"metadata CSV {source} is {kind}, not a CSV text file: save it as "
                                "\"CSV UTF-8\" (or \"Unicode text\") from the spreadsheet program")
    text, encoding = decode_text(data, source)
    if "\x00" in text:
        raise MetadataError(f"metadata CSV {source} contains NUL bytes: is it really a CSV text file?")
    return text, encoding


def parse_metadata(data: bytes, source: str, filename_column: str = "filename") -> MetadataTable:
    """Parse CSV bytes into a MetadataTable; errors name the file, row and column."""
    text, encoding = _text(data, source)
    delimiter = sniff_delimiter(text)
    if delimiter != ",":
        encoding += f", {'tab' if delimiter == chr(9) else 'semicolon'}-separated"
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise MetadataError(f"metadata CSV {source} is empty (no header row)") from None
    except csv.Error as exc:
        raise MetadataError(f"metadata CSV {source}, line 1: {exc}") from None
    columns = [c.strip() for c in header]
    if filename_column not in columns:
        # A documented fallback: the same name in another case ("Filename"), when only one matches.
        # The column is then known by the configured spelling everywhere downstream.
        folded = [i for i, c in enumerate(columns) if c.casefold() == filename_column.casefold()]
        if len(folded) == 1:
            columns[folded[0]] = filename_column
    if filename_column not in columns:
        raise MetadataError(
            f"metadata CSV {source} has no column {filename_column!r} for file names; "
            f"columns found: {columns}"
        )
    seen: set[str] = set()
    for c in columns:
        if c in seen and c:
            raise MetadataError(f"metadata CSV {source}: column {c!r} appears twice in the header")
        seen.add(c)
    fn_index = columns.index(filename_column)
    rows: dict[str, dict[str, str]] = {}
    table = MetadataTable(source, columns, rows, encoding)
    first_row = table.lines
    line = 1
    try:
        for record in reader:
            line = reader.line_num
            if not any(v.strip() for v in record):
                continue
            if len(record) > len(columns) and any(v.strip() for v in record[len(columns):]):
                raise MetadataError(
                    f"metadata CSV {source}, line {line}: {len(record)} fields but the header has {len(columns)}"
                )
            values = {c: (record[i].strip() if i < len(record) else "") for i, c in enumerate(columns) if c}
            name = values.get(filename_column, "").replace("\\", "/").strip()
            if fn_index >= len(record) or not name:
                table.blank_filename_lines.append(line)
                continue
            if name in rows:
                table.duplicates.append({"filename": name, "line": line, "first_line": first_row[name]})
                continue
            rows[name] = values
            first_row[name] = line
    except csv.Error as exc:
        raise MetadataError(f"metadata CSV {source}, line {reader.line_num} (after the record on line {line}): "
                            f"{exc}") from None
    return table


# -- reading the file: what must never be read ---------------------------------------------
def _size(n: float) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{int(n):,} bytes"


def read_metadata_bytes(fs: Any, path: str, source: str, what: str = "metadata CSV", limit: int | None = None,
                        limit_name: str = "$CVIZ_METADATA_MAX_BYTES") -> bytes:
    """The bytes of a file a user gave (a metadata CSV, a drop folder's ``collection.json``), refusing
    what would hang or exhaust memory.

    Local: it must be a regular file (a named pipe would block forever, ``/dev/zero`` never ends).
    Everywhere: at most ``limit`` bytes (default ``$CVIZ_METADATA_MAX_BYTES``, 512 MiB; ``limit_name``
    names the setting in the refusal), read within ``$CVIZ_METADATA_TIMEOUT_S``. ``what`` names the file's kind.
    """
    limit = settings().metadata_max_bytes if limit is None else limit  # beyond this: refused unread
    timeout = settings().metadata_timeout_s  # a read that takes longer fails (hung mount, slow S3)
    size = _checked_size(fs, path, f"{what} {source}")
    if size > limit:
        raise MetadataError(f"{what} {source} is {_size(size)}, over the {_size(limit)} limit ({limit_name})")

    def read() -> bytes:
        with fs.open(path, "rb") as f:
            return f.read(limit + 1)  # bounded even if the size reported was wrong

    pool = ThreadPoolExecutor(max_workers=1)
    try:
        data = pool.submit(read).result(timeout=timeout)
    except FuturesTimeout:
        raise MetadataError(f"{what} {source}: reading it took over {timeout:g} s ($CVIZ_METADATA_TIMEOUT_S)") from None
    except FileNotFoundError:
        raise MetadataError(f"{what} {source} does not exist") from None
    except (OSError, PermissionError) as exc:
        raise MetadataError(f"{what} {source} cannot be read: {exc}") from None
    finally:
        pool.shutdown(wait=False)
    if len(data) > limit:
        raise MetadataError(f"{what} {source} is over the {_size(limit)} limit ({limit_name})")
    return data


def _checked_size(fs: Any, path: str, label: str) -> int:
    """The size of a regular file (local: never a pipe, device or folder), or MetadataError naming it."""
    if is_local(fs):
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise MetadataError(f"{label} does not exist") from None
        except OSError as exc:
            raise MetadataError(f"{label} cannot be read: {exc.strerror or exc}") from None
        if not stat.S_ISREG(st.st_mode):
            kind = "a folder" if stat.S_ISDIR(st.st_mode) else "a named pipe" if stat.S_ISFIFO(st.st_mode) else "a device or socket"
            raise MetadataError(f"{label} is {kind}, not a regular file: point it at a file")
        return st.st_size
    try:
        info = fs.info(path)
    except FileNotFoundError:
        raise MetadataError(f"{label} does not exist") from None
    except (OSError, PermissionError) as exc:
        raise MetadataError(f"{label} cannot be read: {exc}") from None
    if info.get("type") == "directory":
        raise MetadataError(f"{label} is a folder, not a file")
    return int(info.get("size") or 0)
