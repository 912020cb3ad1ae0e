"""Real data sets, the paper's cross-domain scenarios, your own recordings, and synthetic domain shift.

Loaders read validated ``.npz`` files from a data home
(:func:`get_data_home`: argument, ``SKRCD_DATA_HOME``, per-user cache); the
``fetch_*`` functions build those files from the original public archives or, for
AdaTime's preprocessed sets, from their Dataverse DOIs. :func:`make_windows` turns
continuous recordings into the windows and domain ids the estimators take.
"""

from ._adatime import ADATIME_DATASETS, AdaTimeDataset, fetch_adatime, load_adatime, parse_adatime
from ._base import Scenario, UnverifiedDownloadWarning, get_data_home
from ._cwru import CWRU_CLASSES, CWRU_FILES, CWRU_RPM, CWRU_SCENARIOS, fetch_cwru, load_cwru, parse_cwru
from ._dataverse import DATAVERSE_SERVER
from ._scenarios import DATASET_DOMAINS, SKEWED_DATASETS, load_dataset, load_scenario
from ._skewed import SKEWED_PROFILES, profile_weights, skewed_indices, skewed_profile, skewed_scenario
from ._synthetic import make_domain_shift
from ._uci_har import (
    BUNDLED_SUBJECTS,
    PAPER_SCENARIOS,
    UCI_HAR_CLASSES,
    UCI_HAR_SIGNALS,
    fetch_uci_har,
    load_uci_har,
    parse_uci_har,
)
from ._windows import make_windows

__all__ = [
    "make_domain_shift",
    "make_windows",
    "load_uci_har",
    "load_cwru",
    "load_adatime",
    "load_dataset",
    "load_scenario",
    "skewed_scenario",
    "skewed_profile",
    "skewed_indices",
    "profile_weights",
    "SKEWED_PROFILES",
    "SKEWED_DATASETS",
    "fetch_uci_har",
    "fetch_cwru",
    "fetch_adatime",
    "parse_uci_har",
    "parse_cwru",
    "parse_adatime",
    "get_data_home",
    "Scenario",
    "UnverifiedDownloadWarning",
    "PAPER_SCENARIOS",
    "BUNDLED_SUBJECTS",
    "UCI_HAR_CLASSES",
    "UCI_HAR_SIGNALS",
    "CWRU_CLASSES",
    "CWRU_FILES",
    "CWRU_RPM",
    "CWRU_SCENARIOS",
    "ADATIME_DATASETS",
    "AdaTimeDataset",
    "DATASET_DOMAINS",
    "DATAVERSE_SERVER",
]
