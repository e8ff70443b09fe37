"""How many intra-op threads practice gives torch, and that the setting does not leak."""

import pytest
import torch

from fastrlap.errors import FastrlapError
from fastrlap.practice.learner import available_cores, choose_torch_threads, torch_threads


def test_auto_uses_every_core_in_the_simulator_and_half_beside_a_learner_thread():
    assert choose_torch_threads(0, threaded=False, cores=16, current=16) == 16
    assert choose_torch_threads(0, threaded=True, cores=16, current=16) == 8  # two teams, 16 cores
    assert choose_torch_threads(0, threaded=True, cores=1, current=1) == 1
    assert choose_torch_threads(0, threaded=False, cores=16, current=4) == 4  # OMP_NUM_THREADS=4 wins
    assert choose_torch_threads(3, threaded=True, cores=16, current=16) == 3  # explicit wins
    assert 1 <= choose_torch_threads(0, threaded=True) <= available_cores()


def test_a_negative_count_is_one_line_naming_the_setting():
    with pytest.raises(FastrlapError, match=r"practice.torch_threads=-1: use a positive thread count, or 0"):
        choose_torch_threads(-1, threaded=False)


def test_the_thread_count_is_restored_after_the_block():
    before = torch.get_num_threads()
    with pytest.raises(KeyboardInterrupt):
        with torch_threads(1):
            assert torch.get_num_threads() == 1
            raise KeyboardInterrupt
    assert torch.get_num_threads() == before
