"""A training history (skorch's ``History``) stored as columns among a skrcd file's tensors.

A history is a list of epoch rows (dicts), each with a ``batches`` list of batch
rows. Stored as JSON it costs about 90 bytes per batch row, so a long fit's history
would outgrow the metadata cap (:data:`~skrcd.persistence.archive.MAX_METADATA_BYTES`).
Here it is two tables, the epoch rows and the batch rows (all epochs' batches in
order, the epoch table's ``batches`` column holding each epoch's count). Each
table keeps one tensor per column (its values in the rows that have the key),
plus one byte per row naming the row's *layout* (its keys, in order), so rows with
different keys and key orders come back exactly. A column whose values are all
``float`` is stored as float32 when that is exact (losses computed in float32 are),
else float64; all ``int``: the smallest integer type that holds them; all ``bool``:
bools; anything else (strings, ``None``, lists, mixed types): UTF-8 JSON in a byte
tensor. skrcd's own batch rows (``train_loss``, ``train_batch_size``) take 6 or 7
bytes each: 500,000 rows add under 4 MiB to a file. The metadata holds only the
column names and kinds and the layouts.

Reading treats all of it as untrusted: the counts, kinds, dtypes and shapes must
agree before a row is built, and a history may hold at most
:data:`MAX_HISTORY_VALUES` values (about 100 bytes of Python objects each once
loaded) and :data:`MAX_HISTORY_JSON_BYTES` of JSON columns. Writing applies the
same limits, so whatever is written is read back: a history beyond them is saved
without its batch rows (the epoch rows kept), and the caller is told.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from .archive import NotJSONError, encode, short_repr

__all__ = ["MAX_HISTORY_VALUES", "MAX_HISTORY_JSON_BYTES", "encode_history", "decode_history"]

#: The most values (over every row of both tables) a stored history may hold: 4 million, about 400 MB of Python
#: objects once loaded; a fit of 2 million batches (e.g. 320 epochs of 6,250 batches) fits.
MAX_HISTORY_VALUES = 4_000_000
#: The most bytes of JSON columns (values that are not all floats, ints or bools) a stored history may hold.
MAX_HISTORY_JSON_BYTES = 8 * 2**20
#: The most columns and layouts of one table, and the longest column name.
_MAX_COLUMNS, _MAX_LAYOUTS, _MAX_KEY = 256, 255, 256
_INT_TYPES = (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8)
_FLOAT_TYPES = (torch.float16, torch.float32, torch.float64)


class _Limit(Exception):
    """A history beyond the limits of a stored one."""


# ------------------------------------------------------------------ writing
def encode_history(rows):
    """A history as ``(spec, tensors, note)``: JSON for the metadata, a flat dict of tensors, and None or a note
    saying what could not be stored.

    Parameters
    ----------
    rows : list of dict
        The epoch rows (a skorch ``History``).

    Returns
    -------
    spec : dict
    tensors : dict of str to torch.Tensor
    note : str or None
        Set when the batch rows were left out to stay within the limits.

    Raises
    ------
    skrcd.persistence.archive.NotJSONError
        A value that has no JSON form.
    ValueError
        The epoch rows alone are beyond the limits.

    Examples
    --------
    >>> rows = [{"epoch": 1, "loss": 0.5, "batches": [{"train_loss": 0.5}, {"train_loss": 0.25}]}]
    >>> spec, tensors, note = encode_history(rows)
    >>> from skrcd.persistence.archive import FieldReader
    >>> decode_history(FieldReader("f"), spec, tensors, "history_") == rows, note
    (True, None)
    """
    if not all(isinstance(row, dict) for row in rows):
        raise NotJSONError("a history row that is not a dict")
    try:
        return (*_encode(rows, with_batches=True), None)
    except _Limit as exc:
        note = f"the per-batch rows of the history were not saved ({exc}); the epoch rows were"
    try:
        return (*_encode(rows, with_batches=False), note)
    except _Limit as exc:
        raise ValueError(f"the history is beyond what a skrcd file stores, even without its batch rows ({exc})") \
            from None


def _encode(rows, with_batches):
    rows = [dict(row) for row in rows]
    has = [row for row in rows if "batches" in row]
    linked = bool(has) and all(isinstance(r["batches"], list) and all(isinstance(b, dict) for b in r["batches"])
                               for r in has)
    batches = []
    if linked:
        for row in has:
            if with_batches:
                batches.extend(row["batches"])
            row["batches"] = _Rows(len(row["batches"]) if with_batches else 0)
    tensors, budget = {}, {"values": MAX_HISTORY_VALUES, "json": MAX_HISTORY_JSON_BYTES}
    spec = {"epochs": _encode_table(rows, "epochs", tensors, budget)}
    if linked:
        spec["batches"] = _encode_table(batches, "batches", tensors, budget)
    return spec, tensors


class _Rows:
    """The ``batches`` value of an epoch row: how many rows of the batch table are its."""

    def __init__(self, count):
        self.count = count


def _encode_table(rows, name, tensors, budget):
    columns, layouts, ids, values = {}, {}, [], []
    for row in rows:
        layout = []
        for key, value in row.items():
            if not isinstance(key, str):
                raise NotJSONError(f"a history key of type {type(key).__name__}")
            if key not in columns:
                if len(columns) == _MAX_COLUMNS or len(key) > _MAX_KEY:
                    raise _Limit(f"more than {_MAX_COLUMNS} keys, or a key longer than {_MAX_KEY} characters")
                columns[key] = len(columns)
                values.append([])
            layout.append(columns[key])
            values[columns[key]].append(value)
        layout = tuple(layout)
        if layout not in layouts:
            if len(layouts) == _MAX_LAYOUTS:
                raise _Limit(f"rows of more than {_MAX_LAYOUTS} different key sets")
            layouts[layout] = len(layouts)
        ids.append(layouts[layout])
    budget["values"] -= len(rows) + sum(len(v) for v in values)
    if budget["values"] < 0:
        raise _Limit(f"more than {MAX_HISTORY_VALUES} values")
    kinds = []
    for i, (key, column) in enumerate(zip(columns, values)):
        kind, tensor = _encode_column(column, budget)
        kinds.append([key, kind])
        tensors[f"{name}.{i}"] = tensor
    tensors[f"{name}.layout"] = torch.tensor(ids, dtype=torch.uint8)
    return {"rows": len(rows), "columns": kinds, "layouts": [list(layout) for layout in layouts]}


def _encode_column(column, budget):
    """``(kind, tensor)`` of one column's values."""
    if all(isinstance(v, _Rows) for v in column):
        return "rows", torch.tensor([v.count for v in column], dtype=torch.int64)
    column = [encode(v) for v in column]
    types = {type(v) for v in column}
    if types == {bool}:
        return "bool", torch.tensor(column, dtype=torch.bool)
    if types == {int} and -2**63 <= min(column) and max(column) < 2**63:
        lo, hi = min(column), max(column)
        for dtype in (np.int8, np.int16, np.int32, np.int64):
            if np.iinfo(dtype).min <= lo and hi <= np.iinfo(dtype).max:
                return "int", torch.from_numpy(np.asarray(column, dtype=dtype))
    if types == {float}:
        wide = np.asarray(column, dtype=np.float64)
        with np.errstate(over="ignore"):
            narrow = wide.astype(np.float32)
        exact = np.array_equal(narrow.astype(np.float64), wide, equal_nan=True)
        return "float", torch.from_numpy(narrow if exact else wide)
    text = json.dumps(column, separators=(",", ":")).encode("utf-8")
    budget["json"] -= len(text)
    if budget["json"] < 0:
        raise _Limit(f"more than {MAX_HISTORY_JSON_BYTES} bytes of values that are not numbers")
    return "json", torch.frombuffer(bytearray(text), dtype=torch.uint8)


# ------------------------------------------------------------------ reading
def decode_history(reader, spec, tensors, field):
    """The epoch rows of a stored history, every field checked first.

    Parameters
    ----------
    reader : skrcd.persistence.archive.FieldReader
        Names the file in the errors.
    spec : dict or list
        What :func:`encode_history` wrote in the metadata; a list is the JSON
        rows of files written before histories were stored as columns.
    tensors : dict
        The tensors :func:`encode_history` returned, as read back.
    field : str
        The field, for the messages (``"attributes.history_"``).

    Returns
    -------
    list of dict

    Raises
    ------
    skrcd.persistence.ModelFileError
        A malformed field, or a history beyond the limits.
    """
    if isinstance(spec, list):  # the JSON rows of earlier files, within the metadata's own cap
        rows = reader.decode(spec, field, limit=None)
        if not all(isinstance(r, dict) for r in rows):
            raise reader.error(field, "a row is not a dict")
        return rows
    if not isinstance(spec, dict) or not set(spec) <= {"epochs", "batches"} or "epochs" not in spec:
        raise reader.error(field, f"{short_repr(spec)} is not a stored history (epochs and batches tables)")
    if not isinstance(tensors, dict):
        raise reader.error(f"tensors {field}", f"a {type(tensors).__name__}, not a dict")
    budget = {"values": MAX_HISTORY_VALUES, "json": MAX_HISTORY_JSON_BYTES}
    batches = None
    if "batches" in spec:
        batches = _decode_table(reader, spec["batches"], tensors, "batches", f"{field}.batches", budget, None)
    return _decode_table(reader, spec["epochs"], tensors, "epochs", f"{field}.epochs", budget, batches)


def _decode_table(reader, spec, tensors, name, field, budget, batches):
    n = reader.get(spec, "rows", int, f"{field}.rows")
    if not 0 <= n <= MAX_HISTORY_VALUES:
        raise reader.error(f"{field}.rows", f"{n} is not a row count within [0, {MAX_HISTORY_VALUES}]")
    columns = reader.get(spec, "columns", list, f"{field}.columns")
    layouts = reader.get(spec, "layouts", list, f"{field}.layouts")
    if len(columns) > _MAX_COLUMNS or len(layouts) > _MAX_LAYOUTS:
        raise reader.error(field, f"{len(columns)} columns and {len(layouts)} layouts (at most {_MAX_COLUMNS} "
                                  f"and {_MAX_LAYOUTS})")
    kinds = {"float", "int", "bool", "json"} | ({"rows"} if batches is not None else set())
    names = []
    for i, column in enumerate(columns):
        if not (isinstance(column, list) and len(column) == 2 and isinstance(column[0], str)
                and len(column[0]) <= _MAX_KEY and column[1] in kinds):
            raise reader.error(f"{field}.columns[{i}]", f"{short_repr(column)} is not [name, kind] with a kind "
                                                        f"of {sorted(kinds)}")
        names.append(column[0])
    if len(set(names)) != len(names):
        raise reader.error(f"{field}.columns", "a column named twice")
    if batches is not None and [c[1] for c in columns].count("rows") != 1:
        raise reader.error(f"{field}.columns", "not one column of the batch rows")
    for i, layout in enumerate(layouts):
        if not (isinstance(layout, list) and all(type(c) is int and 0 <= c < len(columns) for c in layout)
                and len(set(layout)) == len(layout)):
            raise reader.error(f"{field}.layouts[{i}]", f"{short_repr(layout)} is not a list of distinct columns")
    ids = _tensor(reader, tensors, f"{name}.layout", f"{field}.layout", (torch.uint8,), n)
    ids = ids.numpy()
    if n and int(ids.max()) >= len(layouts):
        raise reader.error(f"tensors {field}.layout", f"names layout {int(ids.max())} of {len(layouts)}")
    per_layout = np.bincount(ids, minlength=len(layouts)) if n else np.zeros(len(layouts), dtype=np.int64)
    counts = [0] * len(columns)
    for layout, k in zip(layouts, per_layout.tolist()):
        for c in layout:
            counts[c] += k
    budget["values"] -= n + sum(counts)
    if budget["values"] < 0:
        raise reader.error(field, f"more than {MAX_HISTORY_VALUES} values")
    values = []
    for i, (key, kind) in enumerate(columns):
        values.append(_decode_column(reader, tensors, f"{name}.{i}", f"{field}.{key[:40]}", kind, counts[i],
                                     budget, batches))
    iterators = [iter(v) for v in values]
    layouts = [[(names[c], iterators[c]) for c in layout] for layout in layouts]
    return [{key: next(it) for key, it in layouts[i]} for i in ids.tolist()]


def _tensor(reader, tensors, key, field, dtypes, n):
    tensor = tensors.get(key)
    if not isinstance(tensor, torch.Tensor) or tensor.dtype not in dtypes or tensor.dim() != 1 or len(tensor) != n:
        got = f"a {tensor.dtype} tensor of shape {tuple(tensor.shape)}" if isinstance(tensor, torch.Tensor) else (
            "missing" if tensor is None else f"a {type(tensor).__name__}")
        raise reader.error(f"tensors {field}", f"{got}, not {n} values of {', '.join(map(str, dtypes))}")
    return tensor


def _decode_column(reader, tensors, key, field, kind, count, budget, batches):
    """The values of one column, as Python objects (a ``rows`` column: each epoch's list of batch rows)."""
    if kind in ("float", "int", "bool"):
        dtypes = {"float": _FLOAT_TYPES, "int": _INT_TYPES, "bool": (torch.bool,)}[kind]
        return _tensor(reader, tensors, key, field, dtypes, count).tolist()
    if kind == "rows":
        sizes = _tensor(reader, tensors, key, field, (torch.int64,), count).tolist()
        if min(sizes, default=0) < 0 or sum(sizes) != len(batches):
            raise reader.error(f"tensors {field}", f"batch counts summing to {sum(sizes)}, with "
                                                   f"{len(batches)} batch rows stored")
        out, at = [], 0
        for size in sizes:
            out.append(batches[at : at + size])
            at += size
        return out
    raw = tensors.get(key)
    if not isinstance(raw, torch.Tensor) or raw.dtype != torch.uint8 or raw.dim() != 1:
        raise reader.error(f"tensors {field}", "missing, or not the bytes of a JSON column")
    budget["json"] -= len(raw)
    if budget["json"] < 0:
        raise reader.error(f"tensors {field}", f"more than {MAX_HISTORY_JSON_BYTES} bytes of JSON columns")
    try:
        column = json.loads(raw.numpy().tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise reader.error(f"tensors {field}", f"not valid JSON ({short_repr(str(exc))})") from None
    if not isinstance(column, list) or len(column) != count:
        raise reader.error(f"tensors {field}", f"not a list of {count} values")
    return reader.decode(column, field, limit=None)
