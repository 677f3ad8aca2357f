"""Arrow arrays from Python lists, numpy arrays and raw buffers, without ``pa.array``.

``pa.array``, ``pa.table(dict of lists)``, ``Array.to_numpy`` and ``pa.scalar`` import pandas the first
time they run (pyarrow checks whether a value is a pandas object): ~0.4 s, more than everything else
a small ``wiki-count`` run needs at start. Building arrays from their buffers never does, and costs
the same or less. A test runs ``wiki-count`` in a fresh process and checks that pandas stays out.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa


def int64s(values) -> pa.Array:
    """An int64 array of ``values`` (a numpy array, a list of ints, or the bytes of int64s)."""
    if isinstance(values, (bytes, bytearray, memoryview)):
        data = np.frombuffer(values, dtype=np.int64)
    else:
        data = np.ascontiguousarray(values, dtype=np.int64)
    return pa.Array.from_buffers(pa.int64(), len(data), [None, pa.py_buffer(data)])


def utf8(offsets: bytes, data: bytes) -> pa.Array:
    """A string array from int64 offsets (n + 1 of them) and UTF-8 data: ``string`` (int32 offsets,
    what the partial files hold, so no cast is needed) unless the data passes 2 GB (``large_string``)."""
    n = len(offsets) // 8 - 1
    if len(data) < 2**31 - 1:
        small = np.frombuffer(offsets, dtype=np.int64).astype(np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(small), pa.py_buffer(data)])
    return pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def strings(values: list[str]) -> pa.Array:
    """A string array of Python strings (see :func:`utf8`)."""
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=len(encoded)), out=offsets[1:])
    return utf8(offsets.tobytes(), b"".join(encoded))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` as ``schema``: cast only when the types differ (a cast imports pyarrow.compute)."""
    return table if table.schema == schema else table.cast(schema)


def table(columns: dict, schema: pa.Schema) -> pa.Table:
    """A table of ``schema`` from Python lists (string and int64 columns)."""
    arrays = []
    for field in schema:
        values = columns[field.name]
        if pa.types.is_integer(field.type):
            column = int64s(values)
        elif pa.types.is_string(field.type) or pa.types.is_large_string(field.type):
            column = strings(values)
        else:
            raise TypeError(f"{field.name}: no pandas-free conversion for {field.type}")
        arrays.append(column if column.type == field.type else column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def total(column) -> int:
    """The sum of an int64 column (Array or ChunkedArray, no nulls) without importing pyarrow.compute."""
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    out = 0
    for chunk in chunks:
        if chunk.null_count:
            raise ValueError("total: the column has nulls")
        if len(chunk):
            values = np.frombuffer(chunk.buffers()[1], dtype=np.int64, count=chunk.offset + len(chunk))
            out += int(values[chunk.offset:].sum())
    return out
