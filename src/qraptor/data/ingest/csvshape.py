"""The shape of a CSV file: compression, header or none, and where the mapped columns are.

Users' CSV files come as pandas writes them (an unnamed leading index column), as exchanges
publish them (no header, gzip or a zip holding one CSV) or plain. This module finds, before
any parser runs, which columns the mapping means (by name, or by 0-based position when the
file has no header), and opens the decompressed text as a stream (bounded memory). It refuses
a file whose shape the config does not describe, saying which option would read it.
"""

from __future__ import annotations

import contextlib
import csv
import gzip
import io
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from qraptor.core.config import check
from qraptor.core.errors import DataError

COMPRESSIONS = ("none", "gzip", "zip")
HEADER_HINT = "set data.csv.header: false and give data.columns as 0-based positions (0, 1, ...)"
_GZIP_MAGIC = b"\x1f\x8b"
_ZIP_MAGIC = b"PK\x03\x04"
_TEXT_MEMBER = (".csv", ".txt")
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_DATE_START = re.compile(r"^\d{4}-\d{2}-\d{2}")
_UNNAMED = re.compile(r"^Unnamed: (\d+)$")  # how pandas names an unnamed column it reads


@dataclass
class CsvConfig:
    """How the user's CSV files are laid out (`data.csv` in conf/data/*.yaml)."""

    header: bool = True  # false: no header row; data.columns then gives 0-based positions

    def __post_init__(self) -> None:
        check(isinstance(self.header, bool), "header", "must be true or false")


@dataclass
class CsvShape:
    """What was found at the top of one CSV file."""

    compression: str  # none | gzip | zip
    header: bool
    names: list[str]  # the header's names, or "column 0", ... without a header
    positions: dict[str, int]  # qraptor column -> 0-based position in the file
    first_row: dict[str, str]  # qraptor column -> its text in the first data row

    @property
    def fields(self) -> list[str]:
        """A unique, readable name for every column, in order (what the parsers get).

        The header's own names where they are usable; an unnamed or repeated one becomes
        "column N", so a pandas index column or a headerless file reads the same way.
        """
        seen: set[str] = set()
        fields = []
        for i, name in enumerate(self.names):
            usable = self.header and name and name not in seen and not name.startswith("column ")
            fields.append(name if usable else f"column {i}")
            seen.add(name)
        return fields

    def field(self, ours: str) -> str:
        """The parsers' name of the file's column that `ours` is mapped to."""
        return self.fields[self.positions[ours]]


def compression_of(path: Path) -> str:
    """gzip, zip or none, from the first bytes (not the name: a renamed .csv still reads)."""
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic.startswith(_GZIP_MAGIC):
        return "gzip"
    if magic.startswith(_ZIP_MAGIC):
        return "zip"
    return "none"


def zip_member(path: Path) -> str:
    """The one CSV inside a zip archive; anything else is refused by name."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
    except zipfile.BadZipFile as exc:
        raise DataError(path, f"not a readable zip archive ({exc})", rule="not_data") from None
    names = [m.filename for m in members]
    if len(members) != 1:
        raise DataError(
            path,
            f"a zip archive must hold exactly one CSV file; this one holds {len(members)}: "
            f"{names[:5]}. Unpack it into one file per zip (or a folder of CSVs).",
            rule="not_data",
        )
    if not names[0].lower().endswith(_TEXT_MEMBER):
        raise DataError(
            path,
            f"the zip archive holds '{names[0]}', not a .csv/.txt file",
            rule="not_data",
        )
    return names[0]


@contextlib.contextmanager
def open_binary(path: Path, compression: str) -> Iterator[IO[bytes]]:
    """The decompressed bytes of a CSV file as a stream (nothing is held in memory)."""
    if compression == "gzip":
        with gzip.open(path, "rb") as stream:
            yield stream  # type: ignore[misc]
    elif compression == "zip":
        with zipfile.ZipFile(path) as archive, archive.open(zip_member(path)) as stream:
            yield stream
    else:
        with path.open("rb") as stream:
            yield stream


def read_head(path: Path, compression: str, size: int) -> bytes:
    """The first `size` decompressed bytes (for the NUL-byte and UTF-8 checks)."""
    try:
        with open_binary(path, compression) as stream:
            return stream.read(size)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(
            path, f"cannot decompress this {compression} file ({exc})", rule="not_data"
        ) from None


@contextlib.contextmanager
def plain_text(path: Path, compression: str, scratch: Path | None = None) -> Iterator[Path]:
    """A path to the decompressed CSV: the file itself, or a temporary copy of its text.

    For the slow diagnostic pass only, whose lazy reader wants a plain file.
    """
    if compression == "none":
        yield path
        return
    with tempfile.TemporaryDirectory(dir=scratch) as folder:
        target = Path(folder) / "decompressed.csv"
        with open_binary(path, compression) as stream, target.open("wb") as out:
            shutil.copyfileobj(stream, out, 16 * 1024 * 1024)
        yield target


def csv_shape(path: Path, columns: Mapping[str, str], cfg: CsvConfig, compression: str) -> CsvShape:
    """Find the mapped columns of `path` (by name or position) and its first data row."""
    with open_binary(path, compression) as stream:
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace", newline="")
        lines = csv.reader(text)
        first = [field.strip() for field in next(lines, [])]
        second = [field.strip() for field in next(lines, [])]
    if not cfg.header:
        positions = _positions(path, columns, len(first))
        names = [f"column {i}" for i in range(len(first))]
        row = first
    else:
        _refuse_data_as_header(path, first)
        positions = _by_name(path, columns, first)
        names, row = first, second
    return CsvShape(
        compression=compression,
        header=cfg.header,
        names=names,
        positions=positions,
        first_row={ours: row[i] for ours, i in positions.items() if i < len(row)},
    )


def _positions(path: Path, columns: Mapping[str, str], width: int) -> dict[str, int]:
    positions = {}
    for ours, theirs in columns.items():
        text = str(theirs).strip()
        if not text.isdigit():
            raise DataError(
                path,
                f"data.csv.header is false, so data.columns.{ours} must be a 0-based column "
                f"position, not {theirs!r} (or set data.csv.header: true to map by name)",
                rule="wrong_columns",
            )
        if int(text) >= width:
            raise DataError(
                path,
                f"data.columns.{ours} is position {text}, but the first row has only {width} "
                f"columns (positions 0-{width - 1})",
                rule="wrong_columns",
            )
        positions[ours] = int(text)
    return positions


def _by_name(path: Path, columns: Mapping[str, str], header: list[str]) -> dict[str, int]:
    """Positions of mapped names; "" and pandas' "Unnamed: N" name an unnamed column."""
    positions, missing = {}, []
    for ours, theirs in columns.items():
        name = str(theirs).strip()
        if name in header:
            positions[ours] = header.index(name)
            continue
        unnamed = _UNNAMED.match(name)
        index = int(unnamed.group(1)) if unnamed else None
        if name == "" and "" in header:
            positions[ours] = header.index("")
        elif index is not None and index < len(header) and header[index] == "":
            positions[ours] = index
        else:
            missing.append(f"{ours} (mapped from '{theirs}')")
    if missing:
        hint = ""
        if "" in header:
            hint = (
                f" Column {header.index('')} has no name (a pandas index?): map it as "
                f"'' or 'Unnamed: {header.index('')}'."
            )
        raise DataError(
            path,
            f"missing column(s) {', '.join(missing)}; the file has {header}. "
            f"Fix data.columns in the config or the file.{hint}",
            rule="wrong_columns",
        )
    return positions


def _refuse_data_as_header(path: Path, header: list[str]) -> None:
    """A 'header' of numbers and dates is the first data row: never eat it as names."""
    values = [h for h in header if h]
    if values and all(_NUMBER.match(v) or _DATE_START.match(v) for v in values):
        raise DataError(
            path,
            f"the file has no header row: its first row {header[:6]} is data, not column "
            f"names. To read it, {HEADER_HINT}.",
            rule="no_header",
        )


def looks_numeric(value: str | None) -> bool:
    """True for an integer or decimal number (an epoch timestamp, say)."""
    return value is not None and _NUMBER.match(value.strip()) is not None
