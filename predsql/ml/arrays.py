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
import pyarrow.compute as pc

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


def to_numpy(array: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """NULLs of a float array become NaN (what on_null: nan feeds)."""
    if isinstance(array, pa.ChunkedArray):
        array = array.combine_chunks()
    return array.to_numpy(zero_copy_only=False)


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
    valid = np.logical_and.reduce([to_numpy(a.is_valid()) for _, a in checked])
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
    mask = None if valid is None or not with_mask else pa.array(~valid)
    if out.width:
        flat = pa.array(full.reshape(-1), type=ARROW_TYPES[out.elem])
        return pa.FixedSizeListArray.from_arrays(flat, out.width, mask=mask)
    return pa.array(full, type=ARROW_TYPES[out.elem],
                    mask=None if valid is None or not with_mask else ~valid)


def result_array(fn: MlFunction, results: list[np.ndarray], valid: np.ndarray | None,
                 rows: int) -> pa.Array:
    """The call's result column: one value per row, NULL where `valid` is False."""
    if not fn.struct:
        return to_arrow(results[0], valid, rows, fn.outputs[0])
    children = [to_arrow(r, valid, rows, o, with_mask=False) for r, o in zip(results, fn.outputs)]
    mask = None if valid is None else pa.array(~valid)
    return pa.StructArray.from_arrays(children, fields=list(result_arrow_type(fn)), mask=mask)


def empty_results(fn: MlFunction) -> list[np.ndarray]:
    return [np.zeros((0, o.width) if o.width else (0,),
                     dtype=object if o.elem == "string" else NUMPY_TYPES[o.elem])
            for o in fn.outputs]


def count_nan(fn: MlFunction, results: list[np.ndarray]) -> int:
    return sum(int(np.isnan(r).sum()) for r, o in zip(results, fn.outputs)
               if o.elem in FLOAT_ELEMS and r.dtype.kind == "f")


def distinct_rows(arrays: list[pa.Array]) -> tuple[np.ndarray, np.ndarray] | None:
    """(index of the first row of each distinct tuple, inverse), from dictionary codes
    combined into one int64 key; None when the codes do not fit in one key."""
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
        key = key * max(size, 1) + encoded.indices.to_numpy(zero_copy_only=False)
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return first, inverse.reshape(-1)
