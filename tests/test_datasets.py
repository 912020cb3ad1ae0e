"""Loaders, parsers of the original formats, checksummed downloads (file:// URLs), scenarios."""

import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.io

from skrcd.data import to_panel
from skrcd.datasets import (
    CWRU_CLASSES,
    UCI_HAR_SIGNALS,
    UnverifiedDownloadWarning,
    fetch_cwru,
    fetch_uci_har,
    get_data_home,
    load_cwru,
    load_scenario,
    load_uci_har,
    parse_cwru,
    parse_uci_har,
)
from skrcd.datasets._base import download, sha256sum

REAL_HOME = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_real = pytest.mark.skipif(
    not (REAL_HOME / "uci_har" / "uci_har_subjects.npz").is_file()
    or not (REAL_HOME / "cwru" / "cwru_loads.npz").is_file(),
    reason="the full data files of ../shared/data are not available",
)


# ----------------------------------------------------------------- fixtures
def _uci_text(rows):
    # the original files: fixed-width scientific notation with three-digit exponents
    out = []
    for row in rows:
        cells = [re.sub(r"e([+-])(\d\d)$", r"e\g<1>0\2", f"{v:.7e}") for v in row]
        out.append("".join(f"{c:>16}" for c in cells))
    return "\n".join(out) + "\n"


def uci_parts(seed=0):
    rng = np.random.default_rng(seed)
    parts = {}
    for part, subjects, labels in (("train", [1] * 6 + [3] * 4, [1, 1, 1, 2, 2, 2, 6, 6, 5, 5]),
                                   ("test", [2] * 5, [3, 3, 3, 4, 4])):
        X = rng.integers(-1000, 1000, size=(len(subjects), 9, 128)) / 64.0  # exact in text and float32
        parts[part] = (np.array(subjects), np.array(labels), X)
    return parts


def write_uci_folder(root, parts):
    base = root / "UCI HAR Dataset"
    for part, (subjects, labels, X) in parts.items():
        sig_dir = base / part / "Inertial Signals"
        sig_dir.mkdir(parents=True)
        for c, sig in enumerate(UCI_HAR_SIGNALS):
            (sig_dir / f"{sig}_{part}.txt").write_text(_uci_text(X[:, c]))
        (base / part / f"y_{part}.txt").write_text("".join(f"{v}\n" for v in labels))
        (base / part / f"subject_{part}.txt").write_text("".join(f"{v}\n" for v in subjects))
    return base


def zip_folder(folder, dest, prefix=""):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                z.write(p, prefix + p.relative_to(folder.parent).as_posix())
    return dest


@pytest.fixture
def uci_archive(tmp_path):
    parts = uci_parts()
    folder = write_uci_folder(tmp_path / "src", parts)
    return parts, folder, zip_folder(folder, tmp_path / "UCI HAR Dataset.zip")


def small_uci_arrays():
    X, y, subject, split = load_uci_har(subjects=[2, 11], data_home="/nonexistent")
    keep = np.r_[np.flatnonzero(subject == 2)[:5], np.flatnonzero(subject == 11)[:5]]
    return {"X": X[keep], "y": y[keep].astype(np.int8), "subject": subject[keep].astype(np.int8),
            "split": split[keep].astype(np.int8)}


def cwru_signal(number, n):
    return np.sin(np.arange(n) * 0.01 * number) + number  # values identify the recording


def write_cwru_folder(folder, table, n):
    folder.mkdir(parents=True, exist_ok=True)
    for numbers in table.values():
        for number in numbers:
            scipy.io.savemat(folder / f"{number}.mat", {
                f"X{number:03d}_DE_time": cwru_signal(number, n)[:, None],
                f"X{number:03d}_FE_time": np.zeros((n, 1)),
                f"X{number:03d}RPM": np.array([[1797]]),
            })
    return folder


TABLE = {"B_7": (11, 12, 13, 14), "IR_7": (21, 22, 23, 24)}


# ----------------------------------------------------------------- data home
def test_data_home_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("SKRCD_DATA_HOME", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert get_data_home(tmp_path / "arg") == tmp_path / "arg"
    assert get_data_home() == tmp_path / "env"
    monkeypatch.delenv("SKRCD_DATA_HOME")
    assert get_data_home() == tmp_path / "xdg" / "skrcd"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert get_data_home() == Path("~/.cache/skrcd").expanduser()


def test_bundled_subset_is_used_only_when_the_request_fits(tmp_path):
    X, y, subject, split = load_uci_har(subjects=[2, 11], data_home=tmp_path)
    assert X.dtype == np.float32 and X.shape[1:] == (9, 128)
    assert set(subject.tolist()) == {2, 11} and set(split.tolist()) == {0, 1}
    assert y.dtype == np.int64 and 0 <= y.min() and y.max() <= 5
    with pytest.raises(FileNotFoundError, match=r"bundled subset only holds subjects \[2, 6, 7"):
        load_uci_har(subjects=[2, 1], data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match="fetch_uci_har"):
        load_uci_har(data_home=tmp_path)
    with pytest.raises(FileNotFoundError, match="fetch_cwru"):
        load_cwru(data_home=tmp_path)


def test_env_var_home_and_dataset_subfolder(monkeypatch, tmp_path):
    arrays = small_uci_arrays()
    (tmp_path / "uci_har").mkdir()
    np.savez(tmp_path / "uci_har" / "uci_har_subjects.npz", **arrays)
    monkeypatch.setenv("SKRCD_DATA_HOME", str(tmp_path))
    X, y, subject, _ = load_uci_har()
    np.testing.assert_array_equal(X, arrays["X"])
    np.testing.assert_array_equal(subject, arrays["subject"])


def test_filters_partition_the_data(tmp_path):
    X, y, subject, split = load_uci_har(subjects=2, data_home=tmp_path)
    Xtr, ytr, _, str_ = load_uci_har(subjects=2, split="train", data_home=tmp_path)
    Xte, _, _, ste = load_uci_har(subjects=[2], split="test", data_home=tmp_path)
    assert len(Xtr) + len(Xte) == len(X) and (str_ == 0).all() and (ste == 1).all()
    np.testing.assert_array_equal(np.concatenate([Xtr, Xte]), np.concatenate([X[split == 0], X[split == 1]]))


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(subjects=0), ValueError, r"subjects \[0\] not available; valid values: 1..30"),
    (dict(subjects=[2, 31]), ValueError, r"subjects \[31\] not available"),
    (dict(subjects="two"), TypeError, "subjects must be an int"),
    (dict(subjects=[]), ValueError, "subjects is empty"),
    (dict(subjects=2, split="val"), ValueError, "split must be 'train', 'test' or None"),
    (dict(subjects=2, return_type="numpyflat"), ValueError, "univariate series only and UCI-HAR has 9 channels"),
    (dict(subjects=2, return_type="pd-wide"), ValueError, "univariate series only"),
    (dict(subjects=2, return_type="xarray"), ValueError, "return_type must be one of"),
])
def test_uci_argument_errors(tmp_path, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        load_uci_har(data_home=tmp_path, **kwargs)


def test_cwru_argument_errors(tmp_path):
    with pytest.raises(ValueError, match=r"loads \[4\] not available; valid values: 0..3"):
        load_cwru(loads=4, data_home=tmp_path)
    with pytest.raises(ValueError, match="split must be"):
        load_cwru(split="all", data_home=tmp_path)


@pytest.mark.parametrize("mtype", ["pd-multiindex", "nested_univ", "df-list", "pd-long", "numpy3d"])
def test_return_type_converts_to_sktime_mtypes(tmp_path, mtype):
    X, *_ = load_uci_har(subjects=2, split="test", data_home=tmp_path)
    Xm, y, *_ = load_uci_har(subjects=2, split="test", data_home=tmp_path, return_type=mtype)
    assert len(y) == len(X)
    np.testing.assert_array_equal(to_panel(Xm), X)


# ------------------------------------------------------------- corrupt files
def _variants():
    a = small_uci_arrays()
    yield "truncated", None, "corrupt or truncated"
    yield "garbage", None, "not a readable UCI-HAR .npz"
    yield "missing", {k: v for k, v in a.items() if k != "split"}, r"missing arrays \['split'\]"
    yield "short windows", dict(a, X=a["X"][:, :, :64]), "expected size 128 on axis 2"
    yield "8 channels", dict(a, X=a["X"][:, :8]), "expected size 9 on axis 1"
    yield "2D X", dict(a, X=a["X"][:, 0]), "'X' has 2 dimensions"
    yield "float labels", dict(a, y=a["y"].astype(float)), "'y' has dtype float64"
    yield "int X", dict(a, X=a["X"].astype(int)), "'X' has dtype int64"
    yield "subject 0", dict(a, subject=a["subject"] * 0), r"'subject' has values in \[0, 0\], expected \[1, 30\]"
    yield "label 9", dict(a, y=a["y"] + 9), "'y' has values in"
    yield "lengths", dict(a, split=a["split"][:-1]), "different lengths"
    yield "nan", dict(a, X=np.where(np.arange(128) == 5, np.nan, a["X"]).astype(np.float32)), "NaN or infinite"
    yield "pickled", dict(a, y=a["y"].astype(object)), "not a readable UCI-HAR .npz"


@pytest.mark.parametrize("label, arrays, match", list(_variants()), ids=[v[0] for v in _variants()])
def test_corrupt_or_malformed_uci_file_fails_clearly(tmp_path, label, arrays, match):
    path = tmp_path / "uci_har_subjects.npz"
    if label == "truncated":
        np.savez(path, **small_uci_arrays())
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif label == "garbage":
        path.write_bytes(b"\x00not a zip file at all" * 10)
    else:
        np.savez(path, **arrays)
    with pytest.raises(ValueError, match=match) as info:
        load_uci_har(subjects=2, data_home=tmp_path)  # a broken full file never falls back to the bundled one
    assert str(path) in str(info.value)


def test_single_array_file_is_refused(tmp_path):
    path = tmp_path / "cwru_loads.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(ValueError, match="single array"):
        load_cwru(data_home=tmp_path)


def test_malformed_cwru_file(tmp_path):
    a = parse_cwru(write_cwru_folder(tmp_path / "raw", TABLE, 3 * 64), files=TABLE, window=64)
    np.savez(tmp_path / "cwru_loads.npz", **dict(a, y=a["y"] + 1))  # label 2 with only 2 classes
    with pytest.raises(ValueError, match=r"'y' has values in \[1, 2\], expected \[0, 1\]"):
        load_cwru(data_home=tmp_path)
    np.savez(tmp_path / "cwru_loads.npz", **dict(a, X=np.repeat(a["X"], 2, axis=1)))
    with pytest.raises(ValueError, match="expected size 1 on axis 1"):
        load_cwru(data_home=tmp_path)
    np.savez(tmp_path / "cwru_loads.npz", **{k: v for k, v in a.items() if k != "rpm"})
    with pytest.raises(ValueError, match=r"missing arrays \['rpm'\]"):
        load_cwru(data_home=tmp_path)


# -------------------------------------------------------------- UCI parsing
def _check_parsed(a, parts, parsed=True):
    X = np.concatenate([parts["train"][2], parts["test"][2]])
    np.testing.assert_array_equal(a["X"], X.astype(np.float32))
    np.testing.assert_array_equal(a["y"], np.concatenate([parts["train"][1], parts["test"][1]]) - 1)
    np.testing.assert_array_equal(a["subject"], np.concatenate([parts["train"][0], parts["test"][0]]))
    # per subject and activity: the first round(0.7 k) windows in recording order are train
    np.testing.assert_array_equal(a["split"], [0, 0, 1, 0, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 1])
    assert a["X"].dtype == np.float32 and a["y"].dtype == (np.int8 if parsed else np.int64)


def test_parse_uci_har_folder_zip_and_nested_zip(uci_archive, tmp_path):
    parts, folder, archive = uci_archive
    _check_parsed(parse_uci_har(folder), parts)
    _check_parsed(parse_uci_har(archive), parts)
    outer = tmp_path / "human+activity+recognition+using+smartphones.zip"
    with zipfile.ZipFile(outer, "w") as z:  # the current UCI download wraps the original zip
        z.write(archive, "UCI HAR Dataset.zip")
        z.writestr("__MACOSX/._UCI HAR Dataset.zip", b"junk")
    _check_parsed(parse_uci_har(outer), parts)


def test_parse_uci_har_malformed(uci_archive, tmp_path):
    parts, folder, archive = uci_archive
    sig = folder / "train" / "Inertial Signals" / "body_gyro_y_train.txt"
    good = sig.read_text()
    lines = good.splitlines()
    sig.write_text("\n".join(lines[:3] + [lines[3][:-16]] + lines[4:]) + "\n")  # a row with 127 values
    with pytest.raises(ValueError, match="body_gyro_y_train.txt"):
        parse_uci_har(folder)
    sig.write_text("\n".join(lines[:-1]) + "\n")  # a missing row
    with pytest.raises(ValueError, match=r"body_gyro_y_train.txt has shape \(9, 128\), expected \(10, 128\)"):
        parse_uci_har(folder)
    sig.write_text(good)
    (folder / "test" / "y_test.txt").write_text("3\n3\n9\n4\n4\n")
    with pytest.raises(ValueError, match="y_test.txt has values outside 1..6"):
        parse_uci_har(folder)
    (folder / "test" / "y_test.txt").unlink()
    with pytest.raises(ValueError, match=r"no file .../test/y_test.txt"):
        parse_uci_har(folder)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="not a readable zip archive"):
        parse_uci_har(archive)
    with pytest.raises(FileNotFoundError):
        parse_uci_har(tmp_path / "nowhere.zip")


# ------------------------------------------------------------ UCI download
def test_fetch_uci_har_from_a_file_url(uci_archive, tmp_path):
    parts, _, archive = uci_archive
    home = tmp_path / "home"
    digest = sha256sum(archive)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)
        path = fetch_uci_har(data_home=home, urls=[(tmp_path / "missing.zip").as_uri(), archive.as_uri()],
                             sha256=digest)
    assert path == home / "uci_har" / "uci_har_subjects.npz"
    assert sha256sum(home / "uci_har" / "raw" / "UCI_HAR_Dataset.zip") == digest
    X, y, subject, split = load_uci_har(data_home=home)
    _check_parsed({"X": X, "y": y, "subject": subject, "split": split}, parts, parsed=False)
    X1, *_ = load_uci_har(subjects=3, split="test", data_home=home)
    assert X1.shape == (2, 9, 128)
    with pytest.raises(ValueError, match=r"subjects \[5\] are not in"):
        load_uci_har(subjects=5, data_home=home)
    archive.unlink()  # cached: no second download
    assert fetch_uci_har(data_home=home, urls=archive.as_uri()) == path


def test_fetch_uci_har_checksum_mismatch_leaves_nothing(uci_archive, tmp_path):
    _, _, archive = uci_archive
    home = tmp_path / "home"
    with pytest.raises(ValueError, match="checksum mismatch"):
        fetch_uci_har(data_home=home, urls=archive.as_uri(), sha256="0" * 64)
    leftovers = [p for p in home.rglob("*") if p.is_file()]
    assert leftovers == []


def test_fetch_without_recorded_checksum_warns_with_the_digest(uci_archive, tmp_path):
    _, _, archive = uci_archive
    with pytest.warns(UnverifiedDownloadWarning, match=sha256sum(archive)):
        fetch_uci_har(data_home=tmp_path / "home", urls=archive.as_uri())


def test_download_errors(tmp_path):
    with pytest.raises(OSError, match="could not download x.bin; tried 2 URL"):
        download([(tmp_path / "a").as_uri(), (tmp_path / "b").as_uri()], tmp_path / "x.bin")
    src = tmp_path / "src.bin"
    src.write_bytes(b"payload")
    # per-URL checksums, overridden by the sha256 argument
    assert download([(src.as_uri(), sha256sum(src))], tmp_path / "ok.bin").read_bytes() == b"payload"
    with pytest.raises(ValueError, match="checksum mismatch"):
        download([(src.as_uri(), sha256sum(src))], tmp_path / "bad.bin", sha256="f" * 64)
    assert not (tmp_path / "bad.bin").exists()


# ------------------------------------------------------------------- CWRU
def test_parse_cwru_windows_order_and_split(tmp_path):
    n, window = 10 * 64 + 13, 64
    folder = write_cwru_folder(tmp_path / "raw", TABLE, n)
    a = parse_cwru(folder, files=TABLE, window=window)
    assert a["X"].shape == (80, 1, 64) and a["X"].dtype == np.float32
    assert a["classes"].tolist() == ["B_7", "IR_7"] and a["rpm"].tolist() == [1797, 1772, 1750, 1730]
    # load-major, then class, then train windows before test windows, in time order
    np.testing.assert_array_equal(a["load"], np.repeat([0, 1, 2, 3], 20))
    np.testing.assert_array_equal(a["y"], np.tile(np.repeat([0, 1], 10), 4))
    np.testing.assert_array_equal(a["split"], np.tile([0] * 7 + [1] * 3, 8))
    first = a["X"][(a["load"] == 2) & (a["y"] == 1), 0]  # recording 23
    np.testing.assert_array_equal(first, cwru_signal(23, n)[: 10 * 64].reshape(10, 64).astype(np.float32))


def test_parse_cwru_errors(tmp_path):
    folder = write_cwru_folder(tmp_path / "raw", TABLE, 3 * 64)
    with pytest.raises(ValueError, match="fewer than two windows of 128"):
        parse_cwru(folder, files=TABLE, window=128)
    (folder / "12.mat").unlink()
    with pytest.raises(FileNotFoundError, match="recording 12 is missing"):
        parse_cwru(folder, files=TABLE, window=64)
    (folder / "12.mat").write_bytes(b"MATLAB 5.0 MAT-file, truncated")
    with pytest.raises(ValueError, match="12.mat: not a readable MATLAB .mat file"):
        parse_cwru(folder, files=TABLE, window=64)
    scipy.io.savemat(folder / "12.mat", {"X097_DE_time": np.zeros((200, 1)), "X098_DE_time": np.zeros((200, 1))})
    with pytest.raises(ValueError, match="expected one drive-end signal 'X012_DE_time'"):
        parse_cwru(folder, files=TABLE, window=64)
    scipy.io.savemat(folder / "12.mat", {"X099_DE_time": np.zeros((200, 1))})  # one signal, other number: used
    assert parse_cwru(folder, files=TABLE, window=64)["X"].shape[0] == 24
    with pytest.raises(ValueError, match="files must map at least 2 class names"):
        parse_cwru(folder, files={"B_7": (11, 12)})


def test_fetch_cwru_from_file_urls(tmp_path):
    src = write_cwru_folder(tmp_path / "server", TABLE, 3 * 1024 + 100)
    sums = {n: sha256sum(src / f"{n}.mat") for numbers in TABLE.values() for n in numbers}
    home = tmp_path / "home"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)
        path = fetch_cwru(data_home=home, url=src.as_uri() + "/{number}.mat", files=TABLE, sha256=sums)
    assert path == home / "cwru" / "cwru_loads.npz"
    X, y, load, split = load_cwru(data_home=home)
    assert X.shape == (24, 1, 1024) and set(load.tolist()) == {0, 1, 2, 3}
    Xf, *_ = load_cwru(loads=[1, 3], split="train", data_home=home, return_type="numpyflat")
    assert Xf.shape == (8, 1024)
    Xw, *_ = load_cwru(loads=1, data_home=home, return_type="pd-wide")
    assert isinstance(Xw, pd.DataFrame) and Xw.shape == (6, 1024)
    sc = load_scenario("cwru", source=0, target=3, data_home=home)
    assert sc.X_src.shape == (4, 1, 1024) and sc.X_test.shape == (2, 1, 1024) and len(sc.y_tgt) == 4
    bad = dict(sums)
    bad[22] = "0" * 64
    with pytest.raises(ValueError, match="checksum mismatch.*22.mat"):
        fetch_cwru(data_home=tmp_path / "home2", url=src.as_uri() + "/{number}.mat", files=TABLE, sha256=bad)
    with pytest.raises(ValueError, match="number"):
        fetch_cwru(data_home=tmp_path / "home3", url=src.as_uri() + "/file.mat", files=TABLE)


# -------------------------------------------------------------- scenarios
def test_load_scenario_uci_bundled(tmp_path):
    sc = load_scenario("uci_har", source=2, target=11, data_home=tmp_path)
    X, y, subject, split = load_uci_har(subjects=[2, 11], data_home=tmp_path)
    np.testing.assert_array_equal(sc.X_src, X[(subject == 2) & (split == 0)])
    np.testing.assert_array_equal(sc.y_test, y[(subject == 11) & (split == 1)])
    assert len(sc.y_tgt) == len(sc.X_tgt) and len(sc.y_src_test) == len(sc.X_src_test)
    mi = load_scenario("uci_har", 2, 11, data_home=tmp_path, return_type="pd-multiindex")
    np.testing.assert_array_equal(to_panel(mi.X_tgt), sc.X_tgt)


@pytest.mark.parametrize("args, exc, match", [
    (("ucr", 2, 11), ValueError, "unknown dataset 'ucr'"),
    (("uci_har", 2, 2), ValueError, "a scenario needs two domains"),
    (("uci_har", 2, 31), ValueError, "target=31 is not a subject of uci_har"),
    (("cwru", 0, 4), ValueError, "target=4 is not a load of cwru"),
    (("cwru", "0", 1), TypeError, "source must be an int"),
])
def test_load_scenario_errors(tmp_path, args, exc, match):
    with pytest.raises(exc, match=match):
        load_scenario(*args, data_home=tmp_path)


# ----------------------------------------------------------- the real files
@needs_real
def test_real_uci_har_file():
    X, y, subject, split = load_uci_har(data_home=REAL_HOME)
    assert X.shape == (10299, 9, 128) and X.dtype == np.float32
    assert sorted(set(subject.tolist())) == list(range(1, 31))
    Xb, *_ = load_uci_har(subjects=2, data_home="/nonexistent")  # the bundled float16 copy
    np.testing.assert_allclose(Xb, X[subject == 2], atol=2e-3)


@needs_real
def test_real_cwru_file():
    X, y, load, split = load_cwru(data_home=REAL_HOME)
    assert X.shape == (4270, 1, 1024) and X.dtype == np.float32
    assert sorted(set(y.tolist())) == list(range(9)) and sorted(set(load.tolist())) == [0, 1, 2, 3]
    with np.load(REAL_HOME / "cwru" / "cwru_loads.npz", allow_pickle=False) as f:
        assert tuple(f["classes"].tolist()) == CWRU_CLASSES
    sc = load_scenario("cwru", 0, 1, data_home=REAL_HOME)
    assert len(sc.X_src) == int(((load == 0) & (split == 0)).sum())


@needs_real
@pytest.mark.parametrize("name, digest", [
    ("uci_har/uci_har_subjects.npz", "84532cbd31a3c6d715762f0af73f42655bdd2e21df65d0ad1dd608d90f786463"),
    ("cwru/cwru_loads.npz", "0ee0e9bd438fb09effbb1473700eb9c62e6bd2ed78d2216ff5d4fbfa6a546731"),
])
def test_real_files_match_their_readme_checksums(name, digest):
    assert sha256sum(REAL_HOME / name) == digest
