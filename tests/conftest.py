import signal

import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Small CNNs on a busy 2-core machine run many times slower with 2 threads than with 1.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


@pytest.fixture
def python_sigint_handler():
    """Python's own Ctrl-C handler for a test that raises SIGINT.

    A process started in the background (nohup, ``cmd &``, some CI runners) inherits
    SIGINT as ignored, and skrcd then rightly leaves it alone.
    """
    previous = signal.getsignal(signal.SIGINT)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


# The estimator settings of the tests, in one place (``from conftest import FAST, SMALL, TINY``; vary them with
# ``dict(SMALL, student_epochs=4)``).
#: Three epochs per stage at the default network widths: a full fit in a few seconds on 2 CPU cores. The teacher
#: is one DANN network (the default trains two VADA teachers, 5x the cost; DANN is the stage the loop tests patch)
#: and the student
#: stage keeps the paper's domain confusion against the teacher's source features; the defaults themselves
#: (the student's own alignment and source cross-entropy) are tested in tests/test_selection_in_fit.py. The tests
#: run the reinforced selection, the student stage with the most state (selector, replay memory, MC statistics);
#: the default, which distils every window, is the same stage without it (``selection="all"`` in the tests).
FAST = dict(
    selection="rl",
    teacher_method="dann",
    n_teachers=1,
    dc_weight=1.0,
    dc_features="teacher",
    source_ce_weight=0.0,
    teacher_epochs=3,
    student_epochs=3,
    selector_hidden=32,
    learning_starts=10,
    n_threads=1,
    device="cpu",
)
#: FAST with a small teacher and selector: the reliability, persistence and export tests.
SMALL = dict(FAST, teacher_channels=(8, 16, 16), mc_passes=3, n_episodes=2, selector_hidden=16)
#: One epoch per stage on the smallest networks, seeded: a fit in a fraction of a second (integration tests).
TINY = dict(FAST, teacher_epochs=1, student_epochs=1, teacher_channels=(8, 8, 8), student_channels=(4, 4, 4),
            selector_hidden=16, mc_passes=2, n_episodes=1, batch_size=16, random_state=0)
