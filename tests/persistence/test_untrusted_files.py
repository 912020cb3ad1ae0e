"""Model files as untrusted input: hostile fields are refused by name, sizes are checked before anything is
allocated, and a fuzz over every field of a saved file gets ModelFileError or a correct load, within a memory bound."""

import contextlib
import io
import json
import resource
import sys
import warnings
import zipfile
import zlib

import numpy as np
import pytest
import torch

from conftest import TINY
from skrcd import RCDKDClassifier
from skrcd.datasets import make_domain_shift
from skrcd.persistence import ModelFileError, load
from skrcd.persistence.archive import MAX_METADATA_BYTES

#: What one load may allocate on top of what the process holds (enforced with RLIMIT_DATA on Linux).
MEMORY_BOUND = 512 * 2**20


@pytest.fixture(scope="module")
def data():
    return make_domain_shift(n_source=20, n_target=16, n_classes=3, length=16, random_state=0)


@pytest.fixture(scope="module")
def saved(data, tmp_path_factory):
    X_src, y_src, X_tgt, _ = data
    clf = RCDKDClassifier(**dict(TINY, selector_hidden=4)).fit(X_src, y_src, X_tgt)
    path = clf.save(tmp_path_factory.mktemp("model") / "model.skrcd")
    with zipfile.ZipFile(path) as zf:
        meta, raw = json.loads(zf.read("skrcd.json")), zf.read("tensors.pt")
    return path, meta, torch.load(io.BytesIO(raw), weights_only=True), clf.predict_proba(X_tgt)


def _write(path, meta=None, tensors=None, *, meta_bytes=None, tensor_bytes=None, tensors_compressed=False,
           extra=()):
    if meta_bytes is None:
        meta_bytes = json.dumps(meta).encode()
    if tensor_bytes is None:
        buf = io.BytesIO()
        torch.save(tensors, buf)
        tensor_bytes = buf.getvalue()
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("skrcd.json", meta_bytes, zipfile.ZIP_DEFLATED)
        zf.writestr("tensors.pt", tensor_bytes, zipfile.ZIP_DEFLATED if tensors_compressed else zipfile.ZIP_STORED)
        for name, content in extra:
            zf.writestr(name, content)
    return path


@contextlib.contextmanager
def memory_bound(extra=MEMORY_BOUND):
    """Allocations beyond ``extra`` more bytes of data memory fail (RuntimeError/MemoryError) inside the block."""
    if not sys.platform.startswith("linux"):
        yield
        return
    with open("/proc/self/status") as f:
        used = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmData"))
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    limit = used + extra if hard == resource.RLIM_INFINITY else min(used + extra, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


def _load_or_refuse(path, X):
    """ModelFileError, or an estimator that predicts probabilities of the right shape; nothing else."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            est = load(path)
        except ModelFileError as exc:
            return str(exc)
        proba = est.predict_proba(X)
    assert proba.shape == (len(X), len(est.classes_))
    return None


# --------------------------------------------------------------------- named refusals
@pytest.mark.parametrize("name, match", [
    ("predict", "attributes.predict: not a fitted-attribute name"),
    ("module_", "attributes.module_: not a fitted-attribute name"),  # a property
    ("__class__", "attributes.__class__"),
    ("teacher", "attributes.teacher"),  # a parameter
    ("student_", "attributes.student_"),  # a network: restored from the networks entry only
    ("X" * 100 + "_", "attributes.XXX"),
], ids=["predict", "a_property", "dunder", "a_parameter", "a_network", "too_long"])
def test_only_fitted_attribute_names_are_restored(saved, tmp_path, name, match):
    path, meta, tensors, _ = saved
    meta = json.loads(json.dumps(meta))
    meta["attributes"][name] = "x"
    with pytest.raises(ModelFileError, match=match):
        load(_write(tmp_path / "m.skrcd", meta, tensors))


def test_an_unknown_but_well_formed_attribute_is_plain_data(saved, tmp_path, data):
    path, meta, tensors, proba = saved
    meta = json.loads(json.dumps(meta))
    meta["attributes"]["calibration_"] = [1, 2]
    est = load(_write(tmp_path / "m.skrcd", meta, tensors))
    assert est.calibration_ == [1, 2]
    np.testing.assert_array_equal(est.predict_proba(data[2]), proba)


def test_a_huge_selector_is_refused_before_anything_is_allocated(saved, tmp_path):
    """A file claiming a selector of 200,000 hidden units (about 160 GB of weights) is refused by comparing the
    network rebuilt on the meta device with the stored tensors, inside a 512 MiB memory bound."""
    path, meta, tensors, _ = saved
    meta = json.loads(json.dumps(meta))
    meta["networks"]["selector_"]["hidden"] = 200_000
    with memory_bound(), pytest.raises(ModelFileError, match="networks.selector_.*do not fit"):
        load(_write(tmp_path / "m.skrcd", meta, tensors))
    # the same claim backed by stored tensors that are views of one element (no bytes behind them)
    fake = {k: torch.zeros(1).expand(200_000, *v.shape[1:]) if v.dim() else v
            for k, v in tensors["networks"]["selector_"].items()}
    hostile = dict(tensors, networks=dict(tensors["networks"], selector_=fake))
    with memory_bound(), pytest.raises(ModelFileError, match="claim more elements than the file stores"):
        load(_write(tmp_path / "m.skrcd", meta, hostile))


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["params"].update(predict_batch_size=0), "params.predict_batch_size: predict_batch_size must be"),
    (lambda m: m["params"].update(n_threads=0), "params.n_threads"),
    (lambda m: m["params"].update(device="GPU"), "params.device"),
    (lambda m: m["params"].update(student_channels={"__tuple__": [4] * 1000}), "params.student_channels: 1000 items"),
    (lambda m: m["attributes"].update(n_channels_=10**9, n_features_in_=10**9) or m["params"].update(
        standardize=False) or m["attributes"].pop("channel_mean_") and m["attributes"].pop("channel_std_"),
     "teacher_ weights do not fit"),  # without statistics: predict would not standardise
    (lambda m: m["attributes"].update(n_channels_=-3), "attributes.n_channels_"),
    (lambda m: m["attributes"].update(n_features_in_=7), "attributes.n_features_in_"),
    (lambda m: m["attributes"].update(classes_={"__ndarray__": [], "dtype": "<U1"}), "attributes.classes_"),
    (lambda m: m["attributes"].update(classes_={"__ndarray__": ["a"], "dtype": "<U999999999"}), "classes_.dtype"),
    (lambda m: m["attributes"].update(interrupted_={"stage": "teacher", "epoch": 9, "n_epochs": 2}), "interrupted_"),
    (lambda m: m["networks"]["selector_"].update(memory_capacity=2**40), "selector_.memory_capacity"),
    (lambda m: m["networks"]["selector_"].update(hidden="8"), "networks.selector_: the saved settings do not build"),
    (lambda m: m["networks"]["selector_"].update(hidden=[[8]]), "selector_.hidden: \\[\\[8\\]\\] is not a plain"),
    (lambda m: m["networks"]["selector_"].update(evil=1), "selector_.evil: not a setting of DQNSelector"),
    (lambda m: m["networks"]["adapter_"].update(build="dqn_selector"), "adapter_.build"),
    (lambda m: m["networks"].update(predict={"build": "linear"}), "networks.predict"),
    (lambda m: m["networks"].update(teacher_={"build": "argument", "argument": "callbacks"}), "teacher_.argument"),
    (lambda m: m.update(versions=[1]) or m.update(format_version=99), "format version 99"),
    (lambda m: m.update(params=[]), "params: a list"),
    (lambda m: m.update(unsaved_params={"teacher": ["x"]}), "unsaved_params.teacher"),
], ids=[
    'predict_batch_size_0', 'n_threads_0', 'device_GPU', 'student_channels_1000_items', 'n_channels_1e9',
    'n_channels_negative', 'n_features_in_inconsistent', 'classes_empty', 'classes_dtype_huge',
    'interrupted_epoch_beyond_n_epochs', 'selector_memory_capacity_2e40', 'selector_hidden_str',
    'selector_hidden_nested', 'selector_unknown_setting', 'adapter_built_as_selector', 'network_named_predict',
    'teacher_from_another_argument', 'versions_list_newer_format', 'params_list', 'unsaved_params_not_str'
])
def test_each_malformed_field_is_named(saved, tmp_path, edit, match):
    path, meta, tensors, _ = saved
    meta = json.loads(json.dumps(meta))
    edit(meta)
    with memory_bound(), pytest.raises(ModelFileError, match=match):
        load(_write(tmp_path / "m.skrcd", meta, tensors))


@pytest.mark.parametrize("case, match", [
    ("metadata_too_large", "exceed the limit"),
    ("compressed_tensors", "compressed"),
    ("legacy_torch_format", "not in torch's zip format"),
    ("many_members", "lists 17 entries"),
    ("nan_weights", "networks.student_.head.weight: not finite"),
    ("arrays_missing", "tensors arrays"),
    ("array_of_bfloat16", "arrays.channel_mean_"),
], ids=["metadata_too_large", "compressed_tensors", "legacy_torch_format", "many_members", "nan_weights",
        "arrays_missing", "array_of_bfloat16"])
def test_hostile_containers_are_refused(saved, tmp_path, case, match):
    path, meta, tensors, _ = saved
    kwargs = {}
    if case == "metadata_too_large":
        kwargs["meta_bytes"] = b" " * (MAX_METADATA_BYTES + 1)
    elif case == "compressed_tensors":
        kwargs["tensors_compressed"] = True
    elif case == "legacy_torch_format":
        buf = io.BytesIO()
        torch.save(tensors, buf, _use_new_zipfile_serialization=False)
        kwargs["tensor_bytes"] = buf.getvalue()
    elif case == "many_members":
        kwargs["extra"] = [(f"pad{i}", b"") for i in range(15)]
    elif case == "nan_weights":
        student = dict(tensors["networks"]["student_"], **{"head.weight": torch.full((3, 4), float("nan"))})
        tensors = dict(tensors, networks=dict(tensors["networks"], student_=student))
    elif case == "arrays_missing":
        tensors = {"networks": tensors["networks"]}
    elif case == "array_of_bfloat16":
        tensors = dict(tensors, arrays=dict(tensors["arrays"], channel_mean_=torch.zeros(3, dtype=torch.bfloat16)))
    with memory_bound(), pytest.raises(ModelFileError, match=match):
        load(_write(tmp_path / "m.skrcd", meta, tensors, **kwargs))


def _raw_zip(path, members):
    """A zip written byte by byte: ``members`` are (name, method, stored bytes, crc, declared uncompressed size), so
    the directory may say anything."""
    import struct

    body, directory = b"", b""
    for name, method, data, crc, size in members:
        name = name.encode()
        offset = len(body)
        body += struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 33, crc, len(data), size, len(name), 0)
        body += name + data
        directory += struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 33, crc, len(data), size,
                                 len(name), 0, 0, 0, 0, 0, offset) + name
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members), len(directory), len(body), 0)
    path.write_bytes(body + directory + end)
    return path


def _stored(saved_path, name):
    with zipfile.ZipFile(saved_path) as zf:
        data = zf.read(name)
    return data, zlib.crc32(data)


@pytest.mark.parametrize("declared", [1000, MAX_METADATA_BYTES, 2**31], ids=["small", "at_the_cap", "huge"])
def test_a_metadata_bomb_is_refused_within_the_memory_bound(saved, tmp_path, declared):
    """A 3.5 MB file whose metadata inflate to 768 MiB: whatever size the directory declares, load reads at most the
    cap and refuses the file (it used to inflate everything before the CRC check: MemoryError under a limit)."""
    path, *_ = saved
    deflate = zlib.compressobj(1, zlib.DEFLATED, -15)
    zeros = bytes(16 * 2**20)
    bomb = b"".join(deflate.compress(zeros) for _ in range(48)) + deflate.flush()
    tensors, crc = _stored(path, "tensors.pt")
    hostile = _raw_zip(tmp_path / "bomb.skrcd", [("skrcd.json", zipfile.ZIP_DEFLATED, bomb, 0, declared),
                                                  ("tensors.pt", zipfile.ZIP_STORED, tensors, crc, len(tensors))])
    assert hostile.stat().st_size < 4 * 2**20
    with memory_bound(), pytest.raises(ModelFileError, match="exceed the limit|corrupt"):
        load(hostile)


@pytest.mark.parametrize("case, match", [
    ("second_metadata", "lists 'skrcd.json' twice"),
    ("second_tensors", "lists 'tensors.pt' twice"),
    ("bzip2_metadata", "compression method 12"),
    ("directory_too_large", "in a directory of"),
], ids=["second_metadata", "second_tensors", "bzip2_metadata", "directory_too_large"])
def test_ambiguous_or_unusual_zips_are_refused(saved, tmp_path, data, case, match):
    """A second skrcd.json (zipfile would read the last one: a mask_label edited there turned score from 0.5 to
    1.0), a member twice, a compression skrcd never writes, a directory far larger than a skrcd file's."""
    path, meta, _, _ = saved
    text, crc = _stored(path, "skrcd.json")
    tensors, tcrc = _stored(path, "tensors.pt")
    edited = json.loads(text)
    edited["params"]["mask_label"] = 99
    edited = json.dumps(edited).encode()
    members = [("skrcd.json", 0, text, crc, len(text)), ("tensors.pt", 0, tensors, tcrc, len(tensors))]
    if case == "second_metadata":
        members.append(("skrcd.json", 0, edited, zlib.crc32(edited), len(edited)))
    elif case == "second_tensors":
        members.insert(0, ("tensors.pt", 0, tensors, tcrc, len(tensors)))
    elif case == "bzip2_metadata":
        import bz2

        members[0] = ("skrcd.json", zipfile.ZIP_BZIP2, bz2.compress(text), crc, len(text))
    else:
        members += [("x" * 9000 + str(i), 0, b"", 0, 0) for i in range(8)]
    with memory_bound(), pytest.raises(ModelFileError, match=match):
        load(_raw_zip(tmp_path / "m.skrcd", members))


def test_a_memory_error_while_loading_is_a_model_file_error(saved, monkeypatch):
    import skrcd.persistence.model_file as model_file

    def exhausted(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(model_file, "_build_network", exhausted)
    with pytest.raises(ModelFileError, match="needs more memory than is available"):
        load(saved[0])
    monkeypatch.undo()
    monkeypatch.setattr(json, "loads", exhausted)
    with pytest.raises(ModelFileError, match="needs more memory than is available"):
        load(saved[0])


def test_a_directory_or_a_device_is_not_read_as_a_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory, not a skrcd file"):
        load(tmp_path)
    with pytest.raises(FileNotFoundError, match="no such file"):
        load(tmp_path / "missing.skrcd")
    if sys.platform.startswith("linux"):
        with pytest.raises(ModelFileError, match="not a regular file"):
            load("/dev/zero")


def test_checkpoint_dir_is_never_restored_from_a_file(saved, tmp_path, data):
    """A file naming a checkpoint_dir: loaded as None with a warning, and a later fit writes no checkpoint there."""
    path, meta, tensors, _ = saved
    chosen = tmp_path / "chosen-by-the-file"
    meta = json.loads(json.dumps(meta))
    meta["params"]["checkpoint_dir"] = str(chosen)
    with pytest.warns(UserWarning, match="checkpoint_dir is not restored from a file"):
        est = load(_write(tmp_path / "m.skrcd", meta, tensors))
    assert est.checkpoint_dir is None
    X_src, y_src, X_tgt, _ = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X_src, y_src, X_tgt)
    assert not chosen.exists()


def test_load_checks_its_device_argument_before_reading(tmp_path):
    with pytest.raises(ValueError, match="^device='GPU' is not a device"):
        load(tmp_path / "does-not-exist.skrcd", device="GPU")


# ------------------------------------------------------------------------------ fuzz
#: Replacement values of every type and size.
VALUES = [None, True, -1, 0, 2**31, 10**30, 1.5, float("nan"), "x", "", "y" * 5000, [], {}, [1, 2, 3],
          {"__tuple__": "x"}, {"__array__": "<f8"}, {"__ndarray__": [1], "dtype": "O"}, {"__history__": [1]},
          {"__device__": 3}, [[[[[[[[[[[[1]]]]]]]]]]]], list(range(5000)), {"a": {"b": {"c": None}}}]


def _paths(tree, prefix=()):
    """Every key path of a JSON tree (the first and last item of a list; a third of the keys of a history row)."""
    if isinstance(tree, dict):
        items = list(tree.items())
        if "__history__" in prefix:
            items = items[::3]
    elif isinstance(tree, list):
        items = [(i, tree[i]) for i in sorted({0, len(tree) - 1}) if tree]
        if "__history__" in prefix:
            items = items[:1]
    else:
        items = []
    for key, value in items:
        yield prefix + (key,)
        yield from _paths(value, prefix + (key,))


def _mutations(meta):
    """(label, mutated metadata): each field deleted, renamed and replaced by values of other types and sizes."""
    paths = list(_paths(meta))
    for i, path in enumerate(paths):
        values = [VALUES[i % len(VALUES)]]
        renames = ["rename"] if len(path) <= 2 else []  # the names of the entries: fields, attributes, networks
        for kind in ["delete", *renames] + [("value", v) for v in values]:
            m = json.loads(json.dumps(meta))
            parent = m
            for key in path[:-1]:
                parent = parent[key]
            key = path[-1]
            if kind == "delete":
                parent.pop(key) if isinstance(parent, dict) else parent.pop(key)
            elif kind == "rename":
                if not isinstance(parent, dict):
                    continue
                parent[["predict", "__init__", "fit_", key + "_x", ""][i % 5]] = parent.pop(key)
            else:
                parent[key] = kind[1]
            yield f"{'.'.join(map(str, path))}:{kind if isinstance(kind, str) else repr(kind[1])[:20]}", m


def _tensor_mutations(tensors):
    """(label, mutated tensors): every stored tensor of some networks and every array given the wrong shape, dtype
    or type, repeated views, NaN, deleted; the containers replaced."""
    def variants(t):
        yield "shape", t.reshape(-1)[:-1] if t.numel() > 1 else torch.zeros(2, 2)
        yield "dtype", t.to(torch.int64) if t.is_floating_point() else t.to(torch.float32)
        yield "type", [1.0]
        yield "view", torch.zeros(1).expand(10**6, 10**4)

    for group, entries in [("arrays", tensors["arrays"])] + [
            (f"networks.{attr}", sd) for attr, sd in tensors["networks"].items()]:
        keys = list(entries)
        keys = keys if group == "arrays" else keys[::2] if group == "networks.student_" else keys[::9]
        for n, key in enumerate(keys):
            for label, value in variants(entries[key]):
                if n % 2 and label in ("type", "view"):
                    continue
                yield f"{group}.{key}:{label}", _replace(tensors, group, key, value)
            yield f"{group}.{key}:deleted", _replace(tensors, group, key, None)
    yield "networks:list", dict(tensors, networks=[1])
    yield "arrays:tensor", dict(tensors, arrays=torch.zeros(3))
    yield "root:empty", {}


def _replace(tensors, group, key, value):
    out = {"arrays": dict(tensors["arrays"]), "networks": {a: dict(sd) for a, sd in tensors["networks"].items()}}
    target = out["arrays"] if group == "arrays" else out["networks"][group.split(".")[1]]
    if value is None:
        target.pop(key)
    else:
        target[key] = value
    return out


@pytest.mark.slow
def test_fuzz_every_field_of_a_model_file(saved, tmp_path, data):
    """Each field of the metadata deleted, renamed or replaced (types, sizes, names, counts), each stored tensor
    reshaped, retyped, replaced or deleted, and the file truncated or flipped at spread-out bytes: every load raises
    ModelFileError or gives an estimator that predicts, under a 512 MiB memory bound; nothing else escapes."""
    path, meta, tensors, _ = saved
    X = data[2][:5]
    raw = path.read_bytes()
    buf = io.BytesIO()
    torch.save(tensors, buf)
    tensor_bytes = buf.getvalue()
    cases = [(label, lambda m=m: _write(tmp_path / "f.skrcd", m, tensor_bytes=tensor_bytes))
             for label, m in _mutations(meta)]
    cases += [(label, lambda t=t: _write(tmp_path / "f.skrcd", meta, t)) for label, t in _tensor_mutations(tensors)]
    for k in range(1, 16):
        at = len(raw) * k // 16
        cases.append((f"truncated@{at}", lambda at=at: _write_bytes(tmp_path / "f.skrcd", raw[:at])))
        flipped = bytearray(raw)
        flipped[at] ^= 0x5A
        cases.append((f"flipped@{at}", lambda b=bytes(flipped): _write_bytes(tmp_path / "f.skrcd", b)))
    outcomes = {"refused": 0, "loaded": 0}
    with memory_bound():
        for label, write in cases:
            try:
                outcome = _load_or_refuse(write(), X)
            except Exception as exc:  # noqa: BLE001 - the point of the test
                raise AssertionError(f"{label}: {type(exc).__name__}: {exc}") from None
            outcomes["refused" if outcome else "loaded"] += 1
    assert len(cases) > 350 and outcomes["refused"] > 250 and outcomes["loaded"] > 20, outcomes


def _write_bytes(path, content):
    path.write_bytes(content)
    return path
