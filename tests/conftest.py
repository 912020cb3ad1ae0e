import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    # Small CNNs on a busy 2-core machine run many times slower with 2 threads than with 1.
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# Settings that make a full fit take a few seconds on 2 CPU cores.
FAST = dict(
    teacher_epochs=3,
    student_epochs=3,
    selector_hidden=32,
    learning_starts=10,
    n_threads=1,
    device="cpu",
)
