"""AdaTime's data sets offline: a mocked Dataverse (API answer and files), tiny ``.pt`` files made here,
verified downloads, refused pickles, layout detection, loaders and scenario lists."""

import hashlib
import io
import json
import re
import warnings

import numpy as np
import pytest
import torch

from skrcd.datasets import (
    ADATIME_DATASETS,
    DATASET_DOMAINS,
    UnverifiedDownloadWarning,
    fetch_adatime,
    load_adatime,
    load_dataset,
    load_scenario,
    load_uci_har,
    parse_adatime,
)
from skrcd.datasets._base import write_npz

SERVER = "https://dataverse.example.org"


# ----------------------------------------------------------------- fixtures
def domain_arrays(name, domain, part, n=3):
    """Windows whose values identify (domain, part, window, channel, step); labels cycle through the classes."""
    spec = ADATIME_DATASETS[name]
    code = 0 if part == "train" else 1
    X = (np.arange(n * spec.channels * spec.length, dtype=np.float32).reshape(n, spec.channels, spec.length)
         + 1000 * domain + 100 * code)
    y = (np.arange(n) + domain) % len(spec.classes)
    return X, y


def pt_bytes(samples, labels):
    buf = io.BytesIO()
    torch.save({"samples": samples, "labels": labels}, buf)
    return buf.getvalue()


def adatime_files(name, n=3):
    """``{file name: bytes}`` of every domain, alternating the layouts AdaTime's files use."""
    spec = ADATIME_DATASETS[name]
    files = {}
    for i, d in enumerate(spec.domains):
        for part in ("train", "test"):
            X, y = domain_arrays(name, d, part, n)
            if spec.channels == 1 and i % 2:
                samples, labels = X[:, 0, :].astype(np.float64), y.astype(np.float64)  # 2-D numpy, float labels
            elif i % 2:
                samples, labels = X.transpose(0, 2, 1).copy(), y  # channels last, numpy
            else:
                samples, labels = torch.from_numpy(X), torch.from_numpy(y)  # channels first, tensors
            files[f"{part}_{d}.pt"] = pt_bytes(samples, labels)
    return files


def expected(name, n=3):
    spec = ADATIME_DATASETS[name]
    parts = [(d, code, *domain_arrays(name, d, part, n)) for d in spec.domains
             for code, part in enumerate(("train", "test"))]
    return (np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]),
            np.concatenate([np.full(n, p[0]) for p in parts]), np.concatenate([np.full(n, p[1]) for p in parts]))


class FakeDataverse:
    """The transport of a Dataverse installation: ``opener(url, timeout)`` answering the API and the downloads."""

    def __init__(self, files, directory="DATA", algorithm="MD5", license=None):
        self.blobs, self.entries, self.requests = {}, [], []
        self.license = license if license is not None else {"name": "CC BY 4.0", "uri": "https://example/cc"}
        extra = {"DA_settings.py": b"print('not data')", "README.md": b"notes"}
        for i, (name, data) in enumerate({**files, **extra}.items(), start=100):
            self.add(i, name, data, directory, algorithm)

    def add(self, file_id, name, data, directory="DATA", algorithm="MD5", served=None, size=None):
        self.blobs[file_id] = data if served is None else served
        data_file = {"id": file_id, "filename": name, "filesize": len(data) if size is None else size}
        if algorithm is not None:
            value = hashlib.new(algorithm.lower().replace("-", ""), data).hexdigest()
            data_file["checksum"] = {"type": algorithm, "value": value}
        self.entries.append({"label": name, "directoryLabel": directory, "dataFile": data_file})

    def __call__(self, url, timeout):
        self.requests.append(url)
        if url.startswith(f"{SERVER}/api/datasets/:persistentId/?persistentId="):
            answer = {"status": "OK", "data": {"latestVersion": {
                "versionNumber": 2, "versionMinorNumber": 1, "license": self.license, "files": self.entries}}}
            return io.BytesIO(json.dumps(answer).encode())
        match = re.fullmatch(rf"{re.escape(SERVER)}/api/access/datafile/(\d+)", url)
        if match and int(match.group(1)) in self.blobs:
            data = self.blobs[int(match.group(1))]
            return data() if callable(data) else io.BytesIO(data)
        raise OSError(f"HTTP Error 404: {url}")


def no_network(url, timeout):
    raise AssertionError(f"unexpected request {url}")


def fetch(server, home, name="hhar", **kwargs):
    return fetch_adatime(name, data_home=home, server=SERVER, opener=server, progress=False, **kwargs)


def leftovers(home):
    return sorted(p.relative_to(home).as_posix() for p in home.rglob("*") if p.is_file())


# ------------------------------------------------------------------- fetch
def test_fetch_resolves_the_doi_downloads_verifies_and_converts(tmp_path):
    server = FakeDataverse(adatime_files("hhar"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnverifiedDownloadWarning)
        path = fetch(server, tmp_path)
    assert path == tmp_path / "hhar" / "hhar_domains.npz"
    assert server.requests[0] == f"{SERVER}/api/datasets/:persistentId/?persistentId=doi:10.21979/N9/OWDFXO"
    names = {e["dataFile"]["id"]: e["dataFile"]["filename"] for e in server.entries}
    fetched = sorted(names[int(url.rsplit("/", 1)[1])] for url in server.requests[1:])
    assert fetched == sorted(f"{p}_{d}.pt" for d in range(9) for p in ("train", "test"))  # not the script, README
    X, y, user, split = load_adatime("hhar", data_home=tmp_path)
    eX, ey, euser, esplit = expected("hhar")
    np.testing.assert_array_equal(X, eX)  # channels-last and channels-first files alike, in channels-first order
    np.testing.assert_array_equal(y, ey)
    np.testing.assert_array_equal(user, euser)
    np.testing.assert_array_equal(split, esplit)
    with np.load(path, allow_pickle=False) as f:
        assert "doi:10.21979/N9/OWDFXO" in str(f["provenance"]) and "version 2.1" in str(f["provenance"])
        assert str(f["license"]) == "CC BY 4.0 (https://example/cc)"
        assert f["classes"].tolist() == list(ADATIME_DATASETS["hhar"].classes)
    assert fetch(no_network, tmp_path) == path  # cached: nothing asked


def test_cached_downloads_are_reused_and_a_changed_one_fetched_again(tmp_path):
    files = adatime_files("hhar")
    fetch(FakeDataverse(files), tmp_path)
    (tmp_path / "hhar" / "hhar_domains.npz").unlink()
    (tmp_path / "hhar" / "raw" / "test_4.pt").write_bytes(b"stale")
    server = FakeDataverse(files)
    fetch(server, tmp_path)
    assert len(server.requests) == 2  # the API answer and the one file that no longer matched its checksum
    np.testing.assert_array_equal(load_adatime("hhar", domains=4, data_home=tmp_path)[0],
                                  expected("hhar")[0][expected("hhar")[2] == 4])


def test_a_corrupt_download_is_refused_and_leaves_no_file(tmp_path):
    files = adatime_files("hhar")
    server = FakeDataverse({k: v for k, v in files.items() if k != "train_3.pt"})
    good = files["train_3.pt"]
    server.add(7, "train_3.pt", good, served=good[:-10] + b"0123456789")  # same size, other bytes
    with pytest.raises(ValueError, match=r"checksum mismatch for train_3.pt .*md5 .*the download was deleted"):
        fetch(server, tmp_path)
    names = leftovers(tmp_path)
    assert "hhar/raw/train_3.pt" not in names and not any(n.endswith(".part") for n in names)
    assert "hhar/hhar_domains.npz" not in names
    assert all(n.startswith("hhar/raw/") and n.endswith(".pt") for n in names)  # verified files only


def test_a_truncated_or_interrupted_download_leaves_no_file(tmp_path):
    files = adatime_files("hhar")
    server = FakeDataverse({k: v for k, v in files.items() if k != "test_0.pt"})
    server.add(8, "test_0.pt", files["test_0.pt"], served=files["test_0.pt"][:100])
    with pytest.raises(ValueError, match=r"test_0.pt .*received 100 bytes, the repository lists"):
        fetch(server, tmp_path)

    class Broken(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 50:
                raise ConnectionResetError("connection reset by peer")
            return super().read(min(size, 60))

    server.blobs[8] = lambda: Broken(files["test_0.pt"])
    with pytest.raises(OSError, match="could not download test_0.pt .*connection reset"):
        fetch(server, tmp_path)
    names = leftovers(tmp_path)
    assert "hhar/raw/test_0.pt" not in names and not any(n.endswith(".part") for n in names)


@pytest.mark.parametrize("algorithm", ["SHA-1", "SHA-256", "SHA-512"])
def test_the_checksum_algorithm_the_api_names_is_used(tmp_path, algorithm):
    fetch(FakeDataverse(adatime_files("fd", n=2), algorithm=algorithm), tmp_path, name="fd")
    assert load_adatime("fd", data_home=tmp_path)[0].shape == (16, 1, 5120)


def test_checksum_types_that_cannot_be_checked(tmp_path):
    files = adatime_files("fd", n=2)
    server = FakeDataverse(files, algorithm=None)  # no published checksum: kept, with the digest to record
    with pytest.warns(UnverifiedDownloadWarning, match="no published checksum .* sha256 is [0-9a-f]{64}"):
        fetch(server, tmp_path, name="fd")
    server = FakeDataverse(files)
    server.entries[0]["dataFile"]["checksum"]["type"] = "CRC32"
    with pytest.raises(ValueError, match="checksum type 'CRC32' cannot be verified"):
        fetch(server, tmp_path / "other", name="fd")


def test_a_pickled_object_is_refused_without_being_built(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    files = adatime_files("fd", n=2)
    files["test_2.pt"] = pt_bytes(Payload(), np.zeros(2))
    with pytest.raises(ValueError, match=r"test_2.pt: refused: it holds a pickled object other than tensors"):
        fetch(FakeDataverse(files), tmp_path / "home", name="fd")
    assert not marker.exists()
    assert not (tmp_path / "home" / "fd" / "fd_domains.npz").exists()
    files["test_2.pt"] = pt_bytes(np.array(["a", "b"], dtype=object), np.zeros(2))  # object arrays too
    with pytest.raises(ValueError, match="refused"):
        fetch(FakeDataverse(files), tmp_path / "home", name="fd", force=True)


def test_api_and_record_errors(tmp_path):
    files = adatime_files("fd", n=2)
    server = FakeDataverse({k: v for k, v in files.items() if k not in ("train_1.pt", "test_3.pt")})
    with pytest.raises(ValueError, match=r"lacks 2 domain file\(s\) of FD .*\['train_1.pt', 'test_3.pt'\]"):
        fetch(server, tmp_path, name="fd")
    server = FakeDataverse(files)
    server.add(9, "train_1.pt", files["train_1.pt"], directory="copy")
    with pytest.raises(ValueError, match="train_1.pt is in the record twice"):
        fetch(server, tmp_path, name="fd")
    with pytest.raises(ValueError, match="not a Dataverse dataset answer"):
        fetch(lambda url, timeout: io.BytesIO(b"<html>maintenance</html>"), tmp_path, name="fd")
    with pytest.raises(OSError, match="could not read https://dataverse.example.org/api/datasets"):
        fetch(lambda url, timeout: (_ for _ in ()).throw(OSError("no route to host")), tmp_path, name="fd")
    with pytest.raises(ValueError, match="unknown AdaTime data set 'mnist'"):
        fetch(no_network, tmp_path, name="mnist")
    assert leftovers(tmp_path) == []


def test_fetch_uci_har_from_dataverse_writes_the_file_load_uci_har_reads(tmp_path):
    fetch(FakeDataverse(adatime_files("uci_har", n=2)), tmp_path, name="uci_har")
    X, y, subject, split = load_uci_har(data_home=tmp_path)
    eX, ey, esubject, esplit = expected("uci_har", n=2)
    np.testing.assert_array_equal(X, eX)
    np.testing.assert_array_equal(subject, esubject)
    assert (tmp_path / "uci_har" / "uci_har_subjects.npz").is_file()


# ------------------------------------------------------------------- parse
@pytest.mark.parametrize("name", ["hhar", "wisdm", "fd", "ssc", "uci_har"])
def test_parse_every_set_in_both_layouts(tmp_path, name):
    for fname, data in adatime_files(name, n=2).items():
        (tmp_path / fname).write_bytes(data)
    a = parse_adatime(name, tmp_path)
    spec = ADATIME_DATASETS[name]
    eX, ey, ed, es = expected(name, n=2)
    np.testing.assert_array_equal(a["X"], eX)
    np.testing.assert_array_equal(a["y"], ey)
    np.testing.assert_array_equal(a[spec.domain_key], ed)
    np.testing.assert_array_equal(a["split"], es)
    assert a["X"].dtype == np.float32 and a["X"].shape[1:] == (spec.channels, spec.length)


def test_parse_errors_name_the_file(tmp_path):
    files = adatime_files("hhar", n=2)
    for fname, data in files.items():
        (tmp_path / fname).write_bytes(data)
    cases = [
        (pt_bytes(torch.zeros(2, 3, 100), torch.zeros(2)), r"train_5.pt: samples have shape \(2, 3, 100\); expected "
                                                            r"HHAR windows of 3 channel\(s\) x 128 steps"),
        (pt_bytes(torch.zeros(2, 128), torch.zeros(2)), r"shape \(2, 128\)"),
        (pt_bytes(torch.zeros(2, 3, 128), torch.tensor([0, 6])), r"labels in \[0, 6\], expected 0..5"),
        (pt_bytes(torch.zeros(2, 3, 128), torch.tensor([0.5, 1.0])), "labels are not whole numbers"),
        (pt_bytes(torch.zeros(2, 3, 128), torch.zeros(3)), r"labels have shape \(3,\), expected \(2,\)"),
        (pt_bytes(torch.full((2, 3, 128), float("nan")), torch.zeros(2)), "NaN or infinite"),
        (b"\x00not a torch file" * 20, "not a readable torch file"),
        (pt_bytes(torch.zeros(2, 3, 128), torch.zeros(2))[:300], "not a readable torch file"),
    ]
    for data, match in cases:
        (tmp_path / "train_5.pt").write_bytes(data)
        with pytest.raises(ValueError, match=match):
            parse_adatime("hhar", tmp_path)
    buf = io.BytesIO()
    torch.save({"x": torch.zeros(2)}, buf)
    (tmp_path / "train_5.pt").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match=r"missing entries \['samples', 'labels'\]"):
        parse_adatime("hhar", tmp_path)
    (tmp_path / "train_5.pt").unlink()
    with pytest.raises(FileNotFoundError, match="train_5.pt is missing"):
        parse_adatime("hhar", tmp_path)


# ----------------------------------------------------------- loaders, scenarios
def small_npz(home, name, n=2):
    spec = ADATIME_DATASETS[name]
    X, y, d, s = expected(name, n)
    write_npz(home / name / spec.filename, {"X": X, "y": y.astype(np.int8), spec.domain_key: d.astype(np.int16),
                                            "split": s.astype(np.int8)})


@pytest.mark.parametrize("name", ["hhar", "wisdm", "fd", "ssc"])
def test_loaders_and_scenarios_of_every_set(tmp_path, name):
    small_npz(tmp_path, name)
    spec = ADATIME_DATASETS[name]
    for list_name, pairs in spec.scenarios.items():
        for s, t in pairs:
            sc = load_scenario(name, s, t, data_home=tmp_path)
            assert sc.X_src.shape == (2, spec.channels, spec.length) and len(sc.y_test) == 2, (list_name, s, t)
            np.testing.assert_array_equal(sc.X_tgt[:, 0, 0], [1000 * t, 1000 * t + spec.length * spec.channels])
    X, y, domain, split = load_dataset(name, domains=spec.domains[-1], split="test", data_home=tmp_path)
    assert set(domain.tolist()) == {spec.domains[-1]} and set(split.tolist()) == {1}
    Xm, *_ = load_adatime(name, domains=spec.domains[0], data_home=tmp_path, return_type="pd-multiindex")
    assert Xm.shape == (4 * spec.length, spec.channels)


def test_loader_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"ssc_domains.npz not found .*fetch_adatime\('ssc'\)"):
        load_adatime("ssc", data_home=tmp_path)
    with pytest.raises(ValueError, match=r"domains \[9\] not available; valid values: 0..8"):
        load_adatime("hhar", domains=9, data_home=tmp_path)
    with pytest.raises(ValueError, match="unknown AdaTime data set"):
        load_adatime("HHAR", data_home=tmp_path)
    with pytest.raises(ValueError, match="target=4 is not a working condition of fd"):
        load_scenario("fd", 0, 4, data_home=tmp_path)
    with pytest.raises(ValueError, match="unknown dataset 'hhar_sa'"):
        load_dataset("hhar_sa", data_home=tmp_path)
    small_npz(tmp_path, "fd")
    path = tmp_path / "fd" / "fd_domains.npz"
    with np.load(path) as f:
        arrays = dict(f)
    write_npz(path, dict(arrays, y=arrays["y"] + 2))
    with pytest.raises(ValueError, match=r"'y' has values in \[2, 4\], expected \[0, 2\]"):
        load_adatime("fd", data_home=tmp_path)


def test_scenario_lists():
    # AdaTime's ten (configs/data_model_configs.py) and the RCD-KD paper's five, as published
    lists = {name: spec.scenarios for name, spec in ADATIME_DATASETS.items()}
    assert lists["uci_har"]["paper"] == ((2, 11), (7, 13), (12, 16), (9, 18), (6, 23))
    assert lists["hhar"]["adatime"][:5] == ((0, 6), (1, 6), (2, 7), (3, 8), (4, 5))
    assert set(lists["hhar"]["paper"]) <= set(lists["hhar"]["adatime"])
    assert lists["ssc"]["paper"] == ((0, 11), (12, 5), (7, 18), (16, 1), (9, 14))
    assert set(lists["fd"]["paper"]) | {(1, 0), (1, 3), (3, 0), (3, 1), (3, 2)} == set(lists["fd"]["adatime"])
    assert "paper" not in lists["wisdm"] and lists["wisdm"]["adatime"][0] == (7, 18)
    for name, named in lists.items():
        assert len(named["adatime"]) == 10
        for pairs in named.values():
            assert len(set(pairs)) == len(pairs)
            assert all(s != t and {s, t} <= set(DATASET_DOMAINS[name]) for s, t in pairs), name
