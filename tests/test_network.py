"""The real Dataverse records, over the network: skipped unless ``SKRCD_NETWORK_TESTS=1``.

Run with ``SKRCD_NETWORK_TESTS=1 python -m pytest -m network tests/test_network.py``. They check what the offline
tests cannot: that each DOI resolves, lists every domain file with a checksum, and (HHAR, the smallest) that a
whole fetch converts to the loader's arrays.
"""

import os

import pytest

from skrcd.datasets import ADATIME_DATASETS, fetch_adatime, load_scenario
from skrcd.datasets._adatime import _domain_files
from skrcd.datasets._dataverse import dataset_record

pytestmark = [
    pytest.mark.network,
    pytest.mark.skipif(os.environ.get("SKRCD_NETWORK_TESTS") != "1",
                       reason="needs the network: set SKRCD_NETWORK_TESTS=1 to run"),
]


@pytest.mark.parametrize("name", sorted(ADATIME_DATASETS))
def test_the_record_lists_every_domain_file_with_a_checksum(name):
    spec = ADATIME_DATASETS[name]
    record = dataset_record(spec.doi)
    files = _domain_files(record, spec)
    assert len(files) == 2 * len(spec.domains)
    assert all(f.checksum and f.size for f in files.values()), [f for f in files.values() if not f.checksum]
    print(f"{name}: {record.doi} version {record.version}, licence {record.license!r}, "
          f"{sum(f.size for f in files.values()) / 2**20:.1f} MiB")


def test_fetch_hhar_end_to_end(tmp_path):
    path = fetch_adatime("hhar", data_home=tmp_path, progress=False)
    sc = load_scenario("hhar", 0, 6, data_home=tmp_path)
    assert path.is_file() and sc.X_src.shape[1:] == (3, 128) and len(sc.y_test) > 0
