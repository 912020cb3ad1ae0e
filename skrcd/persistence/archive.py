"""The skrcd file container, shared by model files and training checkpoints.

A skrcd file is a zip archive of two members:

``skrcd.json``
    Metadata as JSON: the format name and version, the kind of file (``"model"``
    or ``"checkpoint"``), the skrcd, torch, numpy and Python versions that wrote
    it, and what the kind of file adds (:mod:`skrcd.persistence.model_file`,
    :mod:`skrcd.training.checkpoints`).
``tensors.pt``
    ``torch.save`` of a dict of plain tensors and state dicts, read back with
    ``torch.load(weights_only=True)``.

Writing goes through a temporary file of a unique name in the target's folder
(``.skrcd-<pid>-<random>.tmp``), flushed, ``fsync``-ed and renamed over the target,
so concurrent writers of one path never share a temporary file and the path always
holds one complete file.

Reading never executes code from the file, and treats it as untrusted: the zip's
directory is checked before any member is read (at most :data:`MAX_MEMBERS`
entries, no name twice, each member's declared size within its cap), and each
member is read through a bounded stream (never more than its cap, whatever the
directory claims); the metadata is capped at :data:`MAX_METADATA_BYTES`; the
tensors must be stored uncompressed in torch's zip format with uncompressed
records (so no member can claim more memory than the file holds), and every
tensor read must own its bytes (no view claiming more elements than were
stored). Corrupt, truncated, foreign, hostile or too-new files, and files that
need more memory than there is, raise :class:`ModelFileError`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import secrets
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch

from .._version import __version__

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MAX_METADATA_BYTES",
    "MAX_MEMBERS",
    "FieldReader",
    "short_repr",
    "ModelFileError",
    "NotJSONError",
    "class_path",
    "encode",
    "decode",
    "write_archive",
    "read_archive",
    "read_raw",
    "load_tensors",
    "read_metadata",
    "memory_errors_named",
]

FORMAT_NAME = "skrcd"
FORMAT_VERSION = 1
_META, _TENSORS = "skrcd.json", "tensors.pt"
#: The largest metadata (``skrcd.json``, uncompressed) a file may have (the history is stored with the tensors).
MAX_METADATA_BYTES = 8 * 2**20
#: The most entries a skrcd zip (outer) may list; it has two.
MAX_MEMBERS = 16
#: The largest central directory a skrcd zip may have (its own is about 120 bytes).
_MAX_DIRECTORY_BYTES = 64 * 1024
#: Bytes read from a member at a time.
_CHUNK = 1 << 20
#: The most objects (containers and tensors) the tensor payload may hold.
_MAX_OBJECTS = 1_000_000


class ModelFileError(ValueError):
    """A file is not a readable skrcd file: corrupt, truncated, foreign or written by a newer skrcd."""


# ------------------------------------------------------------ reading fields
def short_repr(value, limit=60):
    """``repr`` of a value read from a file, cut to ``limit`` characters for a message.

    Examples
    --------
    >>> short_repr("x" * 100)[-6:]
    'xxx...'
    """
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _as_tuple(types):
    return types if isinstance(types, tuple) else (types,)


def _describe(types):
    names = {dict: "a dict", list: "a list", str: "a str", int: "an int", float: "a float", bool: "a bool",
             type(None): "null"}
    return " or ".join(names.get(t, f"a {t.__module__}.{t.__qualname__}" if t.__module__ != "builtins"
                                 else f"a {t.__name__}") for t in _as_tuple(types))


class FieldReader:
    """Reads the fields of one untrusted file; a malformed field raises :class:`ModelFileError` naming it.

    Parameters
    ----------
    path : str or path-like
        The file, for the messages.

    Examples
    --------
    >>> reader = FieldReader("model.skrcd")
    >>> reader.get({"epoch": 3}, "epoch", int, "epoch")
    3
    >>> reader.get({"epoch": "3"}, "epoch", int, "epoch")
    Traceback (most recent call last):
    ...
    skrcd.persistence.archive.ModelFileError: model.skrcd is corrupt or incomplete: epoch: a str ('3'), not an int
    """

    #: Nesting depth and sequence length :meth:`decode` accepts by default.
    max_depth, max_items = 8, 256

    def __init__(self, path):
        self.path = path

    @staticmethod
    def key(key):
        """A key read from the file, as part of a field name: a str as it is (cut to 40 characters), else its repr."""
        return key[:40] if isinstance(key, str) else short_repr(key, 40)

    def error(self, field, what):
        """The :class:`ModelFileError` for a malformed ``field`` (to raise)."""
        return ModelFileError(f"{self.path} is corrupt or incomplete: {field}: {what}")

    def get(self, mapping, key, types, field, default=...):
        """``mapping[key]``, which must be of ``types`` (a bool is not an int here); ``default`` if missing."""
        if not isinstance(mapping, dict):
            raise self.error(field.rpartition(".")[0] or field, f"a {type(mapping).__name__}, not a dict")
        if key not in mapping:
            if default is not ...:
                return default
            raise self.error(field, "missing")
        value = mapping[key]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise self.error(field, f"{_describe(type(value))} ({short_repr(value)}), not {_describe(types)}")
        return value

    def decode(self, value, field, depth=0, limit=...):
        """:func:`decode` of a JSON value, refusing deep nesting and (with ``limit``) long sequences."""
        limit = self.max_items if limit is ... else limit
        if depth > self.max_depth:
            raise self.error(field, f"nested more than {self.max_depth} levels deep")
        if isinstance(value, list):
            if limit is not None and len(value) > limit:
                raise self.error(field, f"{len(value)} items (at most {limit})")
            return [self.decode(v, field, depth + 1, limit) for v in value]
        if isinstance(value, dict):
            if set(value) == {"__tuple__"}:
                return tuple(self.decode(self.get(value, "__tuple__", list, field), field, depth + 1, limit))
            if limit is not None and len(value) > limit:
                raise self.error(field, f"{len(value)} entries (at most {limit})")
            return {k: self.decode(v, field, depth + 1, limit) for k, v in value.items()}
        return value


# ------------------------------------------------------------------ JSON values
class NotJSONError(TypeError):
    """A value that :func:`encode` cannot write as JSON."""


def class_path(obj):
    """``module.QualifiedName`` of a class or of an object's class.

    Examples
    --------
    >>> class_path(ModelFileError)
    'skrcd.persistence.archive.ModelFileError'
    """
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def encode(v):
    """Plain Python/numpy values -> JSON values (tuples tagged); anything else raises :class:`NotJSONError`.

    Examples
    --------
    >>> encode({"channels": (16, 32), "lr": 0.01})
    {'channels': {'__tuple__': [16, 32]}, 'lr': 0.01}
    >>> decode(encode((1, "a")))
    (1, 'a')
    """
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v)
    if isinstance(v, tuple):
        return {"__tuple__": [encode(x) for x in v]}
    if isinstance(v, list):
        return [encode(x) for x in v]
    if isinstance(v, dict) and all(isinstance(k, str) for k in v):
        return {k: encode(x) for k, x in v.items()}
    raise NotJSONError(type(v).__name__)


def decode(v):
    """The inverse of :func:`encode`."""
    if isinstance(v, list):
        return [decode(x) for x in v]
    if isinstance(v, dict):
        if set(v) == {"__tuple__"}:
            return tuple(decode(x) for x in v["__tuple__"])
        return {k: decode(x) for k, x in v.items()}
    return v


def _versions():
    """The versions written into every file."""
    return {"skrcd": __version__, "torch": torch.__version__, "numpy": np.__version__,
            "python": platform.python_version()}


# ---------------------------------------------------------------- the container
def write_archive(path, kind, meta, tensors):
    """Write metadata and tensors atomically (a temporary file of a unique name, then a rename).

    Parameters
    ----------
    path : str or path-like
    kind : {"model", "checkpoint"}
    meta : dict
        JSON-able metadata (the format, kind and versions are added).
    tensors : dict
        Plain tensors and state dicts, nested in dicts and lists.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    ValueError
        The metadata would exceed :data:`MAX_METADATA_BYTES` (nothing is
        written: ``read_archive`` would refuse the file).
    """
    path = Path(path)
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "kind": kind, "versions": _versions(), **meta}
    text = json.dumps(meta, indent=1).encode("utf-8")
    if len(text) > MAX_METADATA_BYTES:  # what is written must be readable
        raise ValueError(f"cannot write {path}: its metadata would take {len(text)} bytes, more than the "
                         f"{MAX_METADATA_BYTES} a skrcd file may hold")
    buf = io.BytesIO()
    torch.save(tensors, buf)
    f, tmp = _temporary_file(path)
    try:
        with f:
            with zipfile.ZipFile(f, "w") as zf:
                zf.writestr(zipfile.ZipInfo(_META, (1980, 1, 1, 0, 0, 0)), text, zipfile.ZIP_DEFLATED)
                zf.writestr(zipfile.ZipInfo(_TENSORS, (1980, 1, 1, 0, 0, 0)), buf.getvalue(), zipfile.ZIP_STORED)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)
    return path


def _temporary_file(path):
    """A new file of a unique, short name beside ``path``, open for writing: ``(file, its path)``.

    ``O_EXCL`` with a random name: two writers (threads or processes) never share it, and its length does not
    depend on ``path``'s (a name the OS allows stays allowed). Created with mode 0o666 less the umask, as
    ``open`` would.
    """
    for _ in range(100):
        tmp = path.with_name(f".skrcd-{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        except FileExistsError:
            continue
        return os.fdopen(fd, "wb"), tmp
    raise FileExistsError(f"no free temporary name beside {path}")


def _fsync_directory(directory):
    """Make a rename in ``directory`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_meta(meta, path, kind):
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not a skrcd file (its metadata names no skrcd format)")
    version = meta.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ModelFileError(f"{path} is corrupt: format_version {version!r} is not a positive integer")
    if version > FORMAT_VERSION:
        versions = meta.get("versions")
        wrote = versions.get("skrcd", "?") if isinstance(versions, dict) else "?"
        raise ModelFileError(
            f"{path} has file format version {version}, written by skrcd {wrote}; this skrcd reads format "
            f"versions up to {FORMAT_VERSION}: upgrade skrcd to load it"
        )
    if kind is not None and meta.get("kind") != kind:
        hint = " (resume it with fit(..., resume=True))" if meta.get("kind") == "checkpoint" else ""
        raise ModelFileError(f"{path} holds a skrcd {str(meta.get('kind'))[:40]!r}, not a {kind!r}{hint}")


def _check_directory(path):
    """Refuse, from the end-of-central-directory record (the zip64 one where there is one), a zip that lists more
    than :data:`MAX_MEMBERS` entries or whose central directory is larger than a skrcd file's could be: read before
    :class:`zipfile.ZipFile` builds an object per entry. A file without the record is left to ``zipfile``."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(max(0, size - 22 - 65535 - 76))
        tail = f.read()
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) < at + 22:
        return
    count = int.from_bytes(tail[at + 10 : at + 12], "little")
    directory = int.from_bytes(tail[at + 12 : at + 16], "little")
    if at >= 76 and tail[at - 20 : at - 16] == b"PK\x06\x07":  # zipfile then reads the zip64 record before it
        record = tail[at - 76 : at - 20]
        count = max(count, int.from_bytes(record[32:40], "little"))
        directory = max(directory, int.from_bytes(record[40:48], "little"))
    if count > MAX_MEMBERS or directory > _MAX_DIRECTORY_BYTES:
        raise ModelFileError(f"{path} is not a skrcd file (its zip lists {count} entries in a directory of "
                             f"{directory} bytes; a skrcd file has 2 entries)")


def _members(zf, path):
    """The zip's entries by name, refusing a directory that lists too many or one name twice."""
    infos = zf.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"{path} is not a skrcd file (its zip lists {len(infos)} entries; a skrcd file has 2)")
    members = {}
    for info in infos:
        if info.filename in members:  # zipfile would read the last one: refuse the ambiguity
            raise ModelFileError(f"{path} is corrupt or hostile: its zip lists {info.filename[:80]!r} twice")
        members[info.filename] = info
    return members


def _read_member(zf, info, limit, path, what):
    """The bytes of one zip member, read through a bounded stream: the declared size is checked first, and at
    most ``limit + 1`` bytes are ever decompressed (a directory may lie about the size)."""
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ModelFileError(f"{path}: its {what} use compression method {info.compress_type}, which skrcd never "
                             "writes")
    if info.file_size > limit:
        raise ModelFileError(f"{path}: its {what} ({info.file_size} bytes) exceed the limit of {limit}")
    chunks, total = [], 0
    with zf.open(info) as stream:
        while True:
            chunk = stream.read(min(_CHUNK, limit + 1 - total))
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise ModelFileError(f"{path}: its {what} exceed the limit of {limit} bytes")
            chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def memory_errors_named(path):
    """Turn a :class:`MemoryError` inside the block into a :class:`ModelFileError` naming ``path``.

    A file's sizes are checked before anything is allocated, but a machine may still lack the memory that an
    honest file needs; either way the caller gets one kind of error.

    Parameters
    ----------
    path : str or path-like
        The file, for the message.
    """
    try:
        yield
    except MemoryError:
        raise ModelFileError(f"{path}: reading it needs more memory than is available") from None


def _check_torch_payload(raw, path):
    """The tensors are torch's zip format with uncompressed records that fit in the payload."""
    if raw[:4] != b"PK\x03\x04":
        raise ModelFileError(f"{path}: its tensors are not in torch's zip format (an unsafe or foreign payload)")
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as inner:
            infos = inner.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError, OverflowError) as exc:
        raise ModelFileError(f"{path}: its tensors are corrupt ({exc})") from None
    total = 0
    for info in infos:
        if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
            raise ModelFileError(f"{path}: its tensors hold a compressed record ({info.filename[:80]!r}), which "
                                 "skrcd never writes")
        total += info.file_size
    if total > len(raw):
        raise ModelFileError(f"{path}: its tensors claim {total} bytes in a payload of {len(raw)}")


def _check_tensor_data(data, n_bytes, path):
    """Walk the loaded payload: plain containers and dense CPU tensors holding no more bytes than were read."""
    seen, todo, claimed, count = set(), [data], 0, 0
    while todo:
        obj = todo.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        count += 1
        if count > _MAX_OBJECTS:
            raise ModelFileError(f"{path}: its tensors hold more than {_MAX_OBJECTS} objects")
        if isinstance(obj, torch.Tensor):
            if obj.layout != torch.strided or obj.device.type != "cpu" or obj.is_quantized:
                raise ModelFileError(f"{path}: its tensors hold a {obj.layout} {obj.device.type} tensor; skrcd "
                                     "stores dense CPU tensors only")
            claimed += obj.numel() * obj.element_size()
            if claimed > n_bytes:
                raise ModelFileError(f"{path}: its tensors claim more elements than the file stores (a view of "
                                     "shared or repeated storage)")
        elif isinstance(obj, dict):
            todo.extend(obj.keys())
            todo.extend(obj.values())
        elif isinstance(obj, (list, tuple)):
            todo.extend(obj)


def read_archive(path, kind=None, tensors=True):
    """Read a file written by :func:`write_archive`; executes nothing.

    Parameters
    ----------
    path : str or path-like
    kind : {"model", "checkpoint"} or None
        The kind of file expected (None: any).
    tensors : bool, default=True
        Read the tensors too (with ``torch.load(weights_only=True)``).

    Returns
    -------
    meta : dict
    tensors : dict or None

    Raises
    ------
    ModelFileError
        Not a readable skrcd file of that kind (or one that needs more memory
        than there is).
    FileNotFoundError
        No file at ``path``.
    IsADirectoryError
        ``path`` is a directory.
    """
    meta, raw = read_raw(path, kind, tensors)
    return meta, (None if raw is None else load_tensors(raw, path))


def read_raw(path, kind=None, tensors=True):
    """The metadata of a skrcd file, checked, and its tensor payload as bytes (not yet unpickled).

    Lets a reader check the metadata before it reads any tensor (see
    :func:`load_tensors`). Parameters, returns (bytes or None for the tensors) and
    errors as :func:`read_archive`.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory, not a skrcd file")
    if not path.exists():
        raise FileNotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise ModelFileError(f"{path} is not a regular file")
    try:
        with memory_errors_named(path):
            _check_directory(path)
            with zipfile.ZipFile(path) as zf:
                members = _members(zf, path)
                if _META not in members or (tensors and _TENSORS not in members):
                    raise ModelFileError(f"{path} is not a skrcd file (it lacks {_META} or {_TENSORS})")
                text = _read_member(zf, members[_META], MAX_METADATA_BYTES, path, "metadata")
                try:
                    meta = json.loads(text.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
                    raise ModelFileError(f"{path} is corrupt: its metadata is not valid JSON ({exc})") from None
                _check_meta(meta, path, kind)
                raw = None
                if tensors:
                    info = members[_TENSORS]
                    if info.compress_type != zipfile.ZIP_STORED:
                        raise ModelFileError(f"{path}: its tensors are compressed, which skrcd never writes")
                    raw = _read_member(zf, info, path.stat().st_size, path, "tensors")
    except (zipfile.BadZipFile, EOFError, zlib.error, NotImplementedError, ValueError, OverflowError) as exc:
        if isinstance(exc, ModelFileError):
            raise
        raise ModelFileError(f"{path} is not a skrcd file, or it is truncated or corrupt ({exc})") from None
    return meta, raw


def load_tensors(raw, path):
    """Unpickle a tensor payload read by :func:`read_raw` with ``torch.load(weights_only=True)``, after checking
    that it is torch's zip format with uncompressed records, and that its tensors own their bytes.

    Parameters
    ----------
    raw : bytes
    path : str or path-like
        For the messages.

    Returns
    -------
    dict

    Raises
    ------
    ModelFileError
    """
    with memory_errors_named(path):
        return _load_tensors(raw, path)


def _load_tensors(raw, path):
    _check_torch_payload(raw, path)
    try:
        data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure here means an unreadable or unsafe payload
        raise ModelFileError(
            f"{path}: its tensors cannot be read safely with torch.load(weights_only=True) ({type(exc).__name__}: "
            f"{str(exc).splitlines()[0] if str(exc) else ''})"
        ) from None
    if not isinstance(data, dict):
        raise ModelFileError(f"{path} is corrupt: its tensors are a {type(data).__name__}, not a dict")
    _check_tensor_data(data, len(raw), path)
    return data


def read_metadata(path):
    """The JSON metadata of a skrcd model or checkpoint file (versions, class, parameters, ...).

    Reads no tensors and executes nothing.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict

    Raises
    ------
    ModelFileError
        If the file is not a readable skrcd file.

    Examples
    --------
    >>> import os, tempfile
    >>> path = write_archive(os.path.join(tempfile.mkdtemp(), "x.skrcd"), "model", {"note": "hi"}, {})
    >>> meta = read_metadata(path)
    >>> meta["kind"], meta["note"], sorted(meta["versions"])
    ('model', 'hi', ['numpy', 'python', 'skrcd', 'torch'])
    """
    return read_archive(path, None, tensors=False)[0]
