"""Arrow <-> numpy for one function call on one batch, without per-row Python.

Arguments arrive as Arrow arrays (one per SQL argument); `build_feeds` turns
them into one numpy feed per ONNX input (stacking the k arguments of an
[N, k] input per sub-batch); `result_array` turns the model's outputs back
into one Arrow column: a scalar/array column, or a STRUCT for `outputs:`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from predsql.ml.specs import FLOAT_ELEMS, InputSpec, MlFunction, OutputSpec

NUMPY_TYPES = {"float": np.float32, "double": np.float64, "float16": np.float16,
               "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
               "uint8": np.uint8, "string": object, "bool": np.bool_}
ARROW_TYPES = {"float": pa.float32(), "double": pa.float64(), "float16": pa.float32(),
               "int64": pa.int64(), "int32": pa.int32(), "int16": pa.int16(), "int8": pa.int8(),
               "uint8": pa.uint8(), "string": pa.string(), "bool": pa.bool_()}


@dataclass(frozen=True)
class StackedColumns:
    """k columns fed to one [N, k] input; stacked per sub-batch, so the strided
    writes stay in the CPU cache and run on the worker threads."""

    columns: list[np.ndarray]
    dtype: Any
    rank: int

    def __len__(self) -> int:
        return len(self.columns[0])

    def rows(self, start: int, stop: int) -> np.ndarray:
        matrix = np.empty((stop - start, len(self.columns)), dtype=self.dtype)
        for j, column in enumerate(self.columns):
            matrix[:, j] = column[start:stop]
        return matrix if self.rank == 2 else matrix.reshape(-1)


Feed = np.ndarray | StackedColumns

# Arrow's fixed-width numbers, read and written through their buffers: zero-copy, and
# without pyarrow's numpy conversion, which imports pandas (~0.4 s) on first use.
_FIXED = {str(t): np.dtype(d) for t, d in (
    (pa.float16(), np.float16), (pa.float32(), np.float32), (pa.float64(), np.float64),
    (pa.int8(), np.int8), (pa.int16(), np.int16), (pa.int32(), np.int32), (pa.int64(), np.int64),
    (pa.uint8(), np.uint8), (pa.uint16(), np.uint16), (pa.uint32(), np.uint32),
    (pa.uint64(), np.uint64))}


def _bits(buffer: pa.Buffer, offset: int, length: int) -> np.ndarray:
    bits = np.unpackbits(np.frombuffer(buffer, np.uint8), bitorder="little")
    return bits[offset:offset + length].view(np.bool_)


def valid_mask(array: pa.Array) -> np.ndarray | None:
    """True where `array` holds a value; None when it holds no NULL."""
    if array.null_count == 0:
        return None
    return _bits(array.buffers()[0], array.offset, len(array))


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """NULLs of a float array become NaN (what on_null: nan feeds)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    dtype = _FIXED.get(str(array.type))
    if len(array) == 0 and dtype is not None:
        return np.empty(0, dtype)
    if dtype is not None and (array.null_count == 0 or dtype.kind == "f"):
        values = np.frombuffer(array.buffers()[1], dtype, len(array),
                               array.offset * dtype.itemsize)
        valid = valid_mask(array)
        if valid is not None:
            values = np.where(valid, values, np.array(np.nan, dtype))
        return values
    if array.type == pa.bool_() and array.null_count == 0 and len(array):
        return _bits(array.buffers()[1], array.offset, len(array)).copy()
    return array.to_numpy(zero_copy_only=False)


def from_numpy(values: np.ndarray, arrow_type: pa.DataType,
               valid: np.ndarray | None = None) -> pa.Array:
    """A 1-D array as Arrow (zero-copy for contiguous fixed-width numbers); NULL where
    `valid` is False."""
    dtype = _FIXED.get(str(arrow_type))
    if dtype is None and arrow_type != pa.bool_():
        return pa.array(values, type=arrow_type, mask=None if valid is None else ~valid)
    if dtype is None:
        data = pa.py_buffer(np.packbits(np.asarray(values, np.bool_), bitorder="little"))
    else:
        data = pa.py_buffer(np.ascontiguousarray(values, dtype))
    if valid is None:
        return pa.Array.from_buffers(arrow_type, len(values), [None, data], null_count=0)
    nulls = len(valid) - int(np.count_nonzero(valid))
    bitmap = pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.Array.from_buffers(arrow_type, len(values), [bitmap, data], null_count=nulls)


def _feed(spec: InputSpec, arrays: list[pa.Array]) -> Feed:
    dtype = NUMPY_TYPES[spec.elem]
    if spec.width > 1:
        return StackedColumns([to_numpy(a) for a in arrays], dtype, spec.rank)
    column = to_numpy(arrays[0]).astype(dtype, copy=False)
    return column.reshape(-1, 1) if spec.rank == 2 else column


def build_feeds(fn: MlFunction, arrays: list[pa.Array]) -> list[Feed]:
    """One feed per ONNX input, from the arguments in call order."""
    feeds, position = [], 0
    for spec in fn.inputs:
        feeds.append(_feed(spec, arrays[position:position + spec.width]))
        position += spec.width
    return feeds


def valid_rows(fn: MlFunction, arrays: list[pa.Array]) -> tuple[np.ndarray | None, list[int]]:
    """(rows without a NULL argument, or None when all are valid; 1-based positions of the
    arguments holding NULLs). With on_null: nan, NULLs of float arguments are valid."""
    types = fn.arg_types()
    checked = [(i, a) for i, a in enumerate(arrays)
               if a.null_count and not fn.nan_for_null(types[i])]
    if not checked:
        return None, []
    valid = np.logical_and.reduce([valid_mask(a) for _, a in checked])
    return valid, [i + 1 for i, _ in checked]


def output_arrow_type(out: OutputSpec) -> pa.DataType:
    scalar = ARROW_TYPES[out.elem]
    return pa.list_(scalar, out.width) if out.width else scalar


def result_arrow_type(fn: MlFunction) -> pa.DataType:
    if not fn.struct:
        return output_arrow_type(fn.outputs[0])
    return pa.struct([pa.field(o.field, output_arrow_type(o)) for o in fn.outputs])


def to_arrow(result: np.ndarray, valid: np.ndarray | None, rows: int, out: OutputSpec,
             with_mask: bool = True) -> pa.Array:
    dtype = NUMPY_TYPES[out.elem] if out.elem != "float16" else np.float32
    result = np.asarray(result).astype(dtype, copy=False)
    if valid is None:
        full = result
    else:
        shape = (rows, out.width) if out.width else (rows,)
        full = np.full(shape, None, dtype=object) if dtype is object else np.zeros(shape, dtype)
        full[valid] = result
    if out.width:
        mask = None if valid is None or not with_mask else from_numpy(~valid, pa.bool_())
        flat = from_numpy(full.reshape(-1), ARROW_TYPES[out.elem])
        return pa.FixedSizeListArray.from_arrays(flat, out.width, mask=mask)
    return from_numpy(full, ARROW_TYPES[out.elem], None if not with_mask else valid)


def result_array(fn: MlFunction, results: list[np.ndarray], valid: np.ndarray | None,
                 rows: int) -> pa.Array:
    """The call's result column: one value per row, NULL where `valid` is False."""
    if not fn.struct:
        return to_arrow(results[0], valid, rows, fn.outputs[0])
    children = [to_arrow(r, valid, rows, o, with_mask=False) for r, o in zip(results, fn.outputs)]
    mask = None if valid is None else from_numpy(~valid, pa.bool_())
    return pa.StructArray.from_arrays(children, fields=list(result_arrow_type(fn)), mask=mask)


def empty_results(fn: MlFunction) -> list[np.ndarray]:
    return [np.zeros((0, o.width) if o.width else (0,),
                     dtype=object if o.elem == "string" else NUMPY_TYPES[o.elem])
            for o in fn.outputs]


def count_nan(fn: MlFunction, results: list[np.ndarray]) -> int:
    return sum(int(np.isnan(r).sum()) for r, o in zip(results, fn.outputs)
               if o.elem in FLOAT_ELEMS and r.dtype.kind == "f")


def _exceeds(arrays: list[pa.Array], limit: float) -> bool:
    """Whether some numeric argument alone has more than `limit` distinct values (then
    so have the tuples). numpy's equality merges at least what Arrow's hashing merges
    (NaNs, 0.0 and -0.0), so this never says yes where Arrow's count would say no."""
    for array in arrays:
        if str(array.type) in _FIXED and len(np.unique(to_numpy(array))) > limit:
            return True
    return False


def distinct_rows(arrays: list[pa.Array], limit: float | None = None
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """(index of the first row of each distinct tuple, inverse), from dictionary codes
    combined into one int64 key; None when the codes do not fit in one key, or when
    there are more than `limit` distinct tuples (found cheaply when one column shows it)."""
    if limit is not None and _exceeds(arrays, limit):
        return None
    import pyarrow.compute as pc  # ~0.1 s to import: only where rows repeat

    key = np.zeros(len(arrays[0]), dtype=np.int64)
    radix = 1
    for array in arrays:
        encoded = pc.dictionary_encode(array)
        if isinstance(encoded, pa.ChunkedArray):
            encoded = encoded.combine_chunks()
        size = len(encoded.dictionary)
        radix *= max(size, 1)
        if radix >= 2**62:
            return None
        key = key * max(size, 1) + to_numpy(encoded.indices)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    if limit is not None and len(first) > limit:
        return None
    return first, inverse.reshape(-1)
