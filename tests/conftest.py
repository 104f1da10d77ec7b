import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Test tensors are tiny: they gain nothing from threads, and a busy 2-core machine loses a lot."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
