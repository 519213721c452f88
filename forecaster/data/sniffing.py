"""Telling what a CSV's text is: its encoding (UTF-8/16/32 with or without a byte-order
mark, Windows-1252 or Latin-1 with a note, binary refused), its separator (sniffed from the rows, or named
by Excel's ``sep=;`` first line) and its number format (decimal comma, grouped thousands).
Package-private helpers of :mod:`forecaster.data.readers`.
"""

from __future__ import annotations

import codecs
import csv
import io
import re

from forecaster.data.conventions import _NULL_TOKENS
from forecaster.errors import DataError

_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")    # control characters but \t \n \r


def _unicode_width(head: bytes) -> str | None:
    """The UTF-16/32 encoding of a text without a byte-order mark, told by its zero bytes
    (ASCII characters, as CSV punctuation and digits are, leave 1 or 3 zeros in 2 or 4
    bytes, always at the same positions); None when the text is not laid out like that."""
    n = len(head) // 4 * 4
    if n < 8:
        return None
    lanes = [head[k:n:4].count(0) / (n // 4) for k in range(4)]
    zero, text = [v > 0.9 for v in lanes], [v < 0.1 for v in lanes]
    if zero[1] and zero[2] and zero[3] and text[0]:
        return "utf-32-le"
    if zero[0] and zero[1] and zero[2] and text[3]:
        return "utf-32-be"
    if zero[1] and zero[3] and text[0] and text[2]:
        return "utf-16-le"
    if zero[0] and zero[2] and text[1] and text[3]:
        return "utf-16-be"
    return None


def _decode(head: bytes, name: str):
    notes = []
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"   # before UTF-16: the UTF-32-LE mark starts with UTF-16-LE's
    elif head.startswith(codecs.BOM_UTF8):
        encoding = "utf-8-sig"
    elif head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = _unicode_width(head) or "utf-8"
        if encoding != "utf-8":
            notes.append(f"'{name}' has no byte-order mark; read it as "
                         f"{encoding.upper()}.")
    try:
        text = codecs.getincrementaldecoder(encoding)().decode(head, final=False)
    except UnicodeDecodeError:
        # a Windows export: cp1252 is Latin-1 but for 0x80-0x9F, which it gives "€", "–",
        # "’" … (Latin-1 has control characters there); Latin-1 where cp1252 leaves a gap
        legacy = encoding = None
        try:
            legacy, text = "cp1252", head.decode("cp1252")
        except UnicodeDecodeError:
            legacy, text = "latin-1", head.decode("latin-1")
    control = len(_CONTROL.findall(text))
    if "\x00" in text or control > max(2, len(text) // 100):
        raise DataError(f"'{name}' does not look like a CSV or Parquet file (it contains "
                        f"binary data).")
    if encoding is None:
        encoding = legacy
        notes.append(f"'{name}' is not valid UTF-8; read it as "
                     f"{'Latin-1' if legacy == 'latin-1' else 'Windows-1252 (Latin-1)'}.")
    return encoding, text.lstrip("\ufeff"), notes


def _refuse_markup(text: str, name: str) -> None:
    """A web page or JSON saved under a CSV name gets a message saying so (the CSV reader
    would complain about its 'column names' or ragged rows instead)."""
    head = text.lstrip()[:200]
    if re.match(r"<[!?a-zA-Z]", head):
        raise DataError(f"'{name}' is an HTML or XML document, not a CSV (a download that "
                        f"returned a web page?).")
    if re.match(r"[\[{]\s*[\[{\"]", head):
        raise DataError(f"'{name}' is JSON, not a CSV; convert it to CSV or Parquet first "
                        f"(e.g. pandas.read_json(...).to_csv(...)).")


def _sniff(text: str, truncated: bool, candidates=(",", ";", "\t", "|")):
    rows_by = {}
    best = None
    for sep in candidates:
        try:
            if sep != ",":      # a header of one field rules the separator out: skip the rest
                first = next((r for r in csv.reader(io.StringIO(text), delimiter=sep) if r),
                             None)
                if first is None or len(first) < 2:
                    continue
            rows = [r for r in csv.reader(io.StringIO(text), delimiter=sep) if r]
        except csv.Error:
            continue
        if truncated and len(rows) > 1:
            rows = rows[:-1]
        rows_by[sep] = rows
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        body = rows[1:]
        consistent = (sum(len(r) == width for r in body) / len(body)) if body else 1.0
        score = (consistent, width)
        if best is None or score > best[0]:
            best = (score, sep)
    sep = best[1] if best else ","
    return sep, rows_by.get(sep, [])


#: Excel's first line naming the separator ("sep=;"), before the header
_SEP_LINE = re.compile(r"sep=([^\r\n\w\"'])[ \t]*(\r\n|\r|\n)")
#: comment lines before the header ("# exported by …", "# units: kWh"), as loggers write
_COMMENTS = re.compile(r"(?:[ \t]*#[^\r\n]*(?:\r\n|\r|\n))+")


def _preamble(text: str, name: str, notes: list):
    """``(text after the preamble, lines skipped, separator named)``: Excel's ``sep=;``
    line and ``#`` comment lines before the header (a note says how many)."""
    hint = _SEP_LINE.match(text)
    if hint:
        text = text[hint.end():]
    comments = _COMMENTS.match(text)
    skipped = 0
    if comments:
        skipped = len(re.findall(r"\r\n|\r|\n", comments.group()))
        text = text[comments.end():]
        notes.append(f"Skipped {skipped} comment line(s) starting with '#' before the header "
                     f"of '{name}'.")
    return text, skipped + (1 if hint else 0), hint.group(1) if hint else None


_DECIMAL_COMMA = re.compile(r"[+-]?(\d+|\d{1,3}(\.\d{3})+),\d+")
_EU_NUMBER = re.compile(r"[+-]?(\d+|\d{1,3}(\.\d{3})+)(,\d+)?")


def _number_format(rows, sep, notes=None):
    """``(decimal, thousands, text columns)`` of a CSV from its sampled rows: a file not
    separated by commas whose numbers have a decimal comma ("1,5", "10.012,57") is read
    with ``decimal=","``, and with ``thousands="."`` when some are grouped ("1.234");
    then every column whose cells are not all such numbers is read as text, so that
    pandas does not take the dots out of dates like "01.02.2020" (read as 1022020).
    Without a decimal comma, a column of numbers that all read "1.234" could be either:
    read with a decimal point, and a note in ``notes`` says so."""
    if sep == "," or not rows:
        return ".", None, []
    cells = [c.strip() for r in rows[1:200] for c in r]
    if not any(_DECIMAL_COMMA.fullmatch(c) for c in cells):
        for j, name in enumerate(rows[0]):
            column = [r[j].strip() for r in rows[1:200] if j < len(r) and r[j].strip()]
            if column and notes is not None and all(
                    re.fullmatch(r"[+-]?\d{1,3}\.\d{3}", c) for c in column):
                notes.append(f"Read numbers like {column[0]!r} in column {name!r} with '.' "
                             f"as the decimal point; if it separates thousands in this file "
                             f"({column[0]} = {column[0].replace('.', '')}), save the numbers "
                             f"without it.")
        return ".", None, []
    if not any(re.fullmatch(r"[+-]?\d{1,3}(\.\d{3})+(,\d+)?", c) for c in cells):
        return ",", None, []
    text = []
    for j, name in enumerate(rows[0]):
        column = [r[j].strip() for r in rows[1:200] if j < len(r)]
        if not all(_EU_NUMBER.fullmatch(c) or c.lower() in _NULL_TOKENS for c in column):
            text.append(name)
    return ",", ".", text


def _line_numbers(text, sep):
    """Physical line number (1-based) of each non-empty CSV record in ``text``."""
    out, reader = [], csv.reader(io.StringIO(text), delimiter=sep)
    prev = 0
    try:
        for r in reader:
            if r:
                out.append(prev + 1)
            prev = reader.line_num
    except csv.Error:
        pass
    return out
