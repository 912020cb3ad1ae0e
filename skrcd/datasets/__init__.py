"""Real data sets and the paper's cross-domain scenarios."""

from ._synthetic import make_domain_shift
from ._uci_har import PAPER_SCENARIOS, load_scenario, load_uci_har

__all__ = ["make_domain_shift", "load_uci_har", "load_scenario", "PAPER_SCENARIOS"]
