"""Reading a source into a frame for :func:`~forecaster.data.ingest.read_panel`: paths
checked (regular files only), compressed files detected from their magic bytes and bounded
against decompression bombs, encodings, separators and number formats told apart
(:mod:`forecaster.data.sniffing`), then pyarrow's multi-threaded
reader with pandas' parsers as the fall-back; Parquet; and pandas DataFrames, copied.
Every problem is a one-line :class:`~forecaster.errors.DataError`.  Package-private: the
names start with ``_`` and only :mod:`forecaster.data` uses them.
"""

from __future__ import annotations

import bz2
import csv
import gzip
import hashlib
import io
import lzma
import re
import warnings
import zipfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from forecaster.data.conventions import _NULLS, ID_NAMES
from forecaster.data.sniffing import (
    _decode,
    _line_numbers,
    _number_format,
    _preamble,
    _refuse_markup,
    _sniff,
)
from forecaster.errors import DataError

_HEAD_BYTES = 1 << 16
_MAGIC = [(b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"),
          (b"PK\x03\x04", "zip"), (b"\x28\xb5\x2f\xfd", "zstd")]


def _release_reader_memory() -> None:
    """Hand the parser's freed buffers back to the OS.  Arrow's allocator keeps them
    otherwise: after a 10M-row CSV that is ~0.8 GB of resident memory the panel (80 MB)
    no longer uses, which would stack on top of TensorFlow during training."""
    try:
        import pyarrow as pa

        pa.default_memory_pool().release_unused()
    except Exception:  # pragma: no cover - pyarrow missing or an old version
        pass


@dataclass
class _Source:
    frame: pd.DataFrame
    name: str
    parquet: bool = False
    notes: list = field(default_factory=list)
    reread_time: object = None     # callable(col) -> str Series, for the pyarrow path
    fast: dict = field(default_factory=dict)   # column -> NumPy data (see _arrow_frame)
    skipped: int = 0               # lines before the header (Excel's "sep=," line)
    period: int = 0                # rows of the table a wide one was stacked from, or 0

    def where(self, i) -> str:
        i = int(i)
        if i < 0:
            return "a resampled point"
        if self.period:                # a row of a stacked wide table: the table's row
            i %= self.period
        return f"row {i + 1}" if self.parquet else f"line {i + 2 + self.skipped}"


def _check_path(path) -> Path:
    try:
        p = Path(path)
    except TypeError:
        raise DataError(f"the data must be {SOURCES}. Got {type(path).__name__}.") from None
    if not p.exists():
        raise DataError(f"file not found: '{p}'.")
    if p.is_dir():
        raise DataError(f"'{p}' is a directory, not a data file.")
    if not p.is_file():
        raise DataError(f"'{p}' is not a regular file (a device, a pipe or a socket); save "
                        "the data to a file first.")
    return p


def _read_table(p: Path, id_col=None) -> _Source:
    try:
        return _read_file(p, id_col)
    except PermissionError:
        raise DataError(f"cannot read '{p.name}': permission denied; check the file's "
                        f"permissions.") from None
    except OSError as exc:   # an I/O error (a disk, a network share) while reading
        raise DataError(f"cannot read '{p.name}': {exc.strerror or _first_line(exc)}.") \
            from None


def _read_file(p: Path, id_col=None) -> _Source:
    size = p.stat().st_size
    if size == 0:
        raise DataError(f"'{p.name}' is empty (0 bytes).")
    with open(p, "rb") as fh:
        magic = fh.read(8)
    if magic.startswith(b"PAR1") or p.suffix.lower() in (".parquet", ".pq"):
        return _read_parquet(p)
    compression = next((c for m, c in _MAGIC if magic.startswith(m)), None)
    if compression:
        _check_expansion(p, compression, size)
    head, truncated = _head(p, compression)
    if not head.strip():
        raise DataError(f"'{p.name}' is empty (no header, no data).")
    encoding, text, notes = _decode(head, p.name)
    _refuse_markup(text, p.name)
    return _read_csv(p, compression, encoding, text, truncated, notes, id_col)


#: A compressed file may expand this many times (CSV compresses 3-15x; a decompression
#: bomb thousands of times) once it is larger than EXPANSION_FREE, and never beyond
#: MAX_DECOMPRESSED.
MAX_EXPANSION = 100
EXPANSION_FREE = 256 << 20
MAX_DECOMPRESSED = 8 << 30


def _open_compressed(p: Path, compression):
    """A binary stream of the decompressed content of ``p``."""
    if compression == "zip":
        zf = zipfile.ZipFile(p)
        names = [n for n in zf.namelist() if not n.endswith("/")]
        return zf.open(names[0]) if names else io.BytesIO()
    if compression == "zstd":
        import pyarrow as pa

        return pa.input_stream(str(p), compression="zstd")
    return {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}[compression](p, "rb")


def _check_expansion(p: Path, compression, size: int) -> None:
    """Refuse a compressed file that expands beyond :data:`MAX_EXPANSION` times its size
    (past :data:`EXPANSION_FREE`) or :data:`MAX_DECOMPRESSED`, by decompressing it once
    up to the limit (never holding it): a 580 KB file expanding to 300 MB used 3.4 GB."""
    limit = min(MAX_DECOMPRESSED, max(EXPANSION_FREE, MAX_EXPANSION * size))
    total = 0
    try:
        with _open_compressed(p, compression) as fh:
            while True:
                chunk = fh.read(1 << 20)
                if not chunk:
                    return
                total += len(chunk)
                if total > limit:
                    break
    except DataError:
        raise
    except Exception:  # corrupt archive: _head reports it with the decompressor's words
        return
    raise DataError(f"'{p.name}' expands to more than {limit >> 20:,} MB from {size:,} bytes "
                    f"({compression}); refusing a likely decompression bomb. Decompress it "
                    "yourself if the data are genuine.")


def _head(p: Path, compression):
    try:
        if compression == "zip":
            with zipfile.ZipFile(p) as zf:
                names = [n for n in zf.namelist() if not n.endswith("/")]
                if "[Content_Types].xml" in names:
                    raise DataError(f"'{p.name}' is an Excel/Office file; save the sheet as CSV "
                                    f"first.")
                if not names:
                    raise DataError(f"'{p.name}' is an empty zip archive.")
                with zf.open(names[0]) as fh:
                    data = fh.read(_HEAD_BYTES + 1)
        elif compression == "zstd":
            import pyarrow as pa
            with pa.input_stream(str(p), compression="zstd") as fh:
                data = fh.read(_HEAD_BYTES + 1)
        else:
            opener = {"gzip": gzip.open, "bz2": bz2.open, "xz": lzma.open}.get(compression, open)
            with opener(p, "rb") as fh:
                data = fh.read(_HEAD_BYTES + 1)
    except DataError:
        raise
    except Exception as exc:  # corrupt archive: any decompressor error
        raise DataError(f"cannot decompress '{p.name}' ({compression}): "
                        f"{_first_line(exc)}.") from None
    return data[:_HEAD_BYTES], len(data) > _HEAD_BYTES


def _read_csv(p, compression, encoding, text, truncated, notes, id_col=None) -> _Source:
    name = p.name
    text, skip, named = _preamble(text, name, notes)
    sep, rows = _sniff(text, truncated, (named,) if named else (",", ";", "\t", "|"))
    header = rows[0] if rows else []
    dupes = [c for c, k in Counter(header).items() if k > 1]
    if dupes:
        raise DataError(f"column names in '{name}' must be unique; {dupes[0]!r} appears "
                        f"{header.count(dupes[0])} times.")
    # a row wider than the header (checked here for the sampled lines; the parsers report
    # the rest, but pandas silently drops extra fields on the very first data row)
    if rows:
        physical = _line_numbers(text, sep)
        for k, r in enumerate(rows[1:], start=1):
            if len(r) > len(header):
                line = (physical[k] if k < len(physical) else k + 1) + skip
                raise DataError(f"'{name}' line {line} has {len(r)} fields but the header has "
                                f"{len(header)} (ragged rows); every row needs the same "
                                f"number of fields.")
    decimal, thousands, text_cols = _number_format(rows, sep, notes)
    string_cols = [c for c in header if c.strip().lower() in ID_NAMES or c == id_col
                   or c in text_cols]

    if encoding in ("utf-8", "utf-8-sig") and decimal == "." and compression in (None, "gzip", "bz2", "zstd"):
        multiline = any("\n" in c or "\r" in c for r in rows for c in r)
        fast = {}
        frame = _read_pyarrow(p, compression, sep, string_cols, quoted=multiline,
                              dictionary=True, fast=fast, skip=skip)
        if frame is not None:
            if len(frame) == 0:
                raise DataError(f"'{name}' has a header but no data rows.")

            def reread(col):
                return _read_pyarrow(p, compression, sep, [col], quoted=multiline,
                                     only=col, skip=skip)[col]
            return _Source(frame, name, notes=notes, reread_time=reread, fast=fast,
                           skipped=skip)
    frame = _read_pandas(p, compression, encoding, sep, decimal, thousands, string_cols,
                         skip)
    if len(frame) == 0:
        raise DataError(f"'{name}' has a header but no data rows.")
    return _Source(frame, name, notes=notes, skipped=skip)


def _read_pyarrow(p, compression, sep, string_cols, quoted, only=None, dictionary=False,
                  fast=None, skip=0):
    import pyarrow as pa
    import pyarrow.csv as pacsv

    try:
        # the compression the magic bytes named (None: plain), never one guessed from the
        # file name: a plain CSV named .csv.gz is plain
        source = pa.input_stream(str(p), compression=compression)
        convert = pacsv.ConvertOptions(
            # series ids arrive dictionary-encoded (a Categorical): factorised for free
            column_types={c: pa.dictionary(pa.int32(), pa.string()) if dictionary
                          else pa.string() for c in string_cols},
            null_values=_NULLS, strings_can_be_null=True, quoted_strings_can_be_null=True,
            include_columns=[only] if only else None)
        table = pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(block_size=_block_size(p), skip_rows=skip),
            parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=quoted),
            convert_options=convert)
        mapping = {pa.string(): pd.StringDtype(na_value=np.nan),
                   pa.large_string(): pd.StringDtype(na_value=np.nan)}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fast is None or len(set(table.column_names)) < table.num_columns:
                return table.to_pandas(date_as_object=False, types_mapper=mapping.get)
            return _arrow_frame(table, fast, mapping)
    except (pa.ArrowException, ValueError, TypeError, OverflowError):
        return None     # odd file: let pandas' parsers read it and explain what is wrong


def _block_size(p) -> int:
    """Bytes per parsing block: ~24 blocks keep both threads busy on a mid-size file, while
    16 MiB blocks on a big one cost less CPU and memory than many small ones."""
    try:
        size = p.stat().st_size
    except OSError:
        size = 0
    return int(min(1 << 24, max(1 << 20, size // 24)))


def _arrow_frame(table, fast, mapping) -> pd.DataFrame:
    """``table.to_pandas()``, column by column, keeping what the panel needs as plain NumPy.

    Float and naive timestamp columns become one writeable array each (the frame's column
    is a view of it, so the values need no further copy); dictionary-encoded string columns
    become a Categorical whose codes (nulls -1) and labels are kept too.  ``fast`` receives
    ``{column: array}`` and ``{column: (codes, labels)}``.  Each Arrow column is dropped as
    soon as it is converted, so the table and the frame never coexist in full.
    """
    import pyarrow as pa

    names, columns = table.column_names, table.columns
    del table
    out = {}
    for i, name in enumerate(names):
        col, columns[i] = columns[i], None
        typ = col.type
        if not len(col):
            pass
        elif typ == pa.float64():
            if col.null_count:
                col = col.fill_null(np.nan)         # as to_pandas gives them
            arr = fast[name] = _pool_numpy(col, np.float64)
            out[name] = pd.Series(arr, name=name, copy=False)
        elif pa.types.is_timestamp(typ) and typ.tz is None and not col.null_count:
            arr = fast[name] = _pool_numpy(col, np.int64).view(f"M8[{typ.unit}]")
            out[name] = pd.Series(arr, name=name, copy=False)
        elif pa.types.is_dictionary(typ) and pa.types.is_string(typ.value_type):
            col = col.unify_dictionaries()
            # plain object labels: building pandas' Arrow-backed strings costs ~5 ms up front
            labels = pd.Index(col.chunks[0].dictionary.to_pylist(), dtype=object)
            dtype = np.dtype(_code_dtype(len(labels)))
            idx = pa.chunked_array([chunk.indices for chunk in col.chunks])
            if idx.null_count:
                idx = idx.fill_null(-1)
            codes = _pool_numpy(idx.cast(pa.from_numpy_dtype(dtype)), dtype)
            fast[name] = (codes, labels)     # shared with the Categorical (same dtype)
            out[name] = pd.Series(pd.Categorical.from_codes(codes, categories=labels,
                                                            validate=False),
                                  name=name, copy=False)
        if name not in out:
            out[name] = pa.table({name: col}).to_pandas(
                date_as_object=False, types_mapper=mapping.get)[name]
        del col
    # object column labels: a str Index would build pandas' Arrow strings (~5 ms up front)
    frame = pd.DataFrame(dict(enumerate(out[name] for name in names)), copy=False)
    frame.columns = pd.Index(names, dtype=object)
    return frame


def _pool_numpy(col, dtype) -> np.ndarray:
    """The chunks of ``col`` (no nulls, fixed width) as one writeable NumPy array of
    ``dtype``, concatenated in Arrow's memory pool: that reuses the pages the CSV parser has
    just freed, where a new 80 MB NumPy array faults in every page afresh (several times
    slower in a fresh process)."""
    import pyarrow as pa

    arr = col.chunk(0) if col.num_chunks == 1 else pa.concat_arrays(col.chunks)
    dtype = np.dtype(dtype)
    out = np.frombuffer(arr.buffers()[1], dtype=dtype, count=len(arr),
                        offset=arr.offset * dtype.itemsize)
    return out if out.flags.writeable else out.copy()


def _code_dtype(n_labels):
    """The integer type pandas gives the codes of a Categorical with ``n_labels``
    categories (so that it can share them): int8 below 127, int16 below 32767, …"""
    for dtype in (np.int8, np.int16, np.int32):
        if n_labels < np.iinfo(dtype).max:
            return dtype
    return np.int64


def _read_pandas(p, compression, encoding, sep, decimal, thousands, string_cols, skip=0):
    name = p.name
    kwargs = dict(sep=sep, decimal=decimal, thousands=thousands, encoding=encoding,
                  skiprows=skip,
                  compression=compression, dtype={c: str for c in string_cols},
                  index_col=False, on_bad_lines="error", skipinitialspace=False)
    last = None
    for engine in ("c", "python"):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return pd.read_csv(p, engine=engine, **kwargs)
        except pd.errors.EmptyDataError:
            raise DataError(f"'{name}' is empty (no header, no data).") from None
        except UnicodeError as exc:
            raise DataError(f"cannot decode '{name}' as {encoding}: {_first_line(exc)}.") from None
        except (pd.errors.ParserError, ValueError, csv.Error, OverflowError) as exc:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
            if m:
                raise DataError(f"'{name}' line {m.group(2)} has {m.group(3)} fields but the "
                                f"header has {m.group(1)} (ragged rows); every row needs the "
                                f"same number of fields.") from None
            last = exc
        except Exception as exc:  # decompression and I/O errors from inside pandas
            last = exc
    raise DataError(f"cannot parse '{name}' as CSV: {_first_line(last)}.")


def _read_parquet(p: Path) -> _Source:
    try:
        frame = pd.read_parquet(p)
    except Exception as exc:  # pyarrow raises many types for a broken file
        raise DataError(f"cannot read '{p.name}' as Parquet: {_first_line(exc)}.") from None
    return _frame_source(frame, p.name, copy=False)


#: How messages name a DataFrame handed to :func:`read_panel`.
FRAME_NAME = "DataFrame"
#: What :func:`read_panel` reads, as its messages list them.
SOURCES = "a file path, a pandas DataFrame or Series, or a polars DataFrame"


def as_frame(source):
    """``source`` as :func:`read_panel` reads it: a pandas DataFrame or a path as it is; a
    pandas ``Series`` indexed by time as a frame of that time and one value column named
    after the series (``"y"`` when unnamed), which becomes the series' id; a polars
    DataFrame through its ``to_pandas()`` (polars is never imported here: a frame of it
    exists only where polars is)."""
    if isinstance(source, pd.Series):
        return _series_frame(source)
    if type(source).__module__.split(".")[0] == "polars" and hasattr(source, "to_pandas"):
        if not hasattr(source, "columns"):      # a polars Series: its index would be lost
            raise DataError("a polars Series has no timestamps; pass a polars DataFrame "
                            "with a time column.")
        return source.to_pandas()
    return source


def _series_frame(series: pd.Series) -> pd.DataFrame:
    """A pandas Series as a frame: its index (the timestamps) and its values."""
    index = series.index
    if not (isinstance(index, (pd.DatetimeIndex, pd.PeriodIndex))
            or (index.nlevels == 1 and not isinstance(index, pd.RangeIndex)
                and pd.api.types.is_integer_dtype(index.dtype) and index.name is not None)):
        raise DataError("a pandas Series needs its timestamps as its index (a "
                        "DatetimeIndex, or integer steps in a named index). Got a "
                        f"{type(index).__name__}.")
    name = "y" if series.name is None or not str(series.name).strip() else str(series.name)
    time = str(index.name) if index.name is not None else "ds"
    if time == name:
        time = "time" if name == "ds" else "ds"
    if isinstance(index, pd.PeriodIndex):
        index = index.to_timestamp()
    return pd.DataFrame({time: index, name: series.to_numpy()}, index=None)


def _frame_source(frame: pd.DataFrame, name: str, copy: bool) -> _Source:
    """A table already in memory (read from Parquet, or handed over from Python): an index
    that carries data (a ``DatetimeIndex``, named levels, as a wide frame indexed by time
    has) becomes columns, names become strings and must be unique, one row at least.
    ``copy``: the frame is someone else's, so later steps must not write into it."""
    index = frame.index
    plain = isinstance(index, pd.RangeIndex) or (
        index.nlevels == 1 and index.name is None and not isinstance(index, pd.DatetimeIndex))
    frame = frame.reset_index(drop=plain)
    if copy:
        frame = frame.copy(deep=True)
    frame.columns = [str(c) for c in frame.columns]
    if frame.columns.duplicated().any():
        c = frame.columns[frame.columns.duplicated()][0]
        raise DataError(f"column names in '{name}' must be unique; {c!r} appears twice.")
    if len(frame) == 0:
        raise DataError(f"'{name}' has no data rows.")
    return _Source(frame, name, parquet=True)


def _first_line(exc) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def fingerprint(path) -> dict:
    """``{"path", "name", "sha256", "bytes"}`` of a file, hashed in 1 MiB chunks; of a
    DataFrame: no path, and the sha256 of its values and index (pandas' row hashes)."""
    path = as_frame(path)
    if isinstance(path, pd.DataFrame):
        rows = pd.util.hash_pandas_object(path, index=True).to_numpy()
        return {"path": None, "name": FRAME_NAME, "sha256": hashlib.sha256(
            rows.tobytes()).hexdigest(), "bytes": int(path.memory_usage(deep=True).sum())}
    from forecaster.storage.files import file_sha256

    p = _check_path(path)
    return {"path": str(p.resolve()), "name": p.name, "sha256": file_sha256(p),
            "bytes": p.stat().st_size}
