"""benchmarks/ece_sampling_floor.py: the ECE a perfectly calibrated model scores from sampling alone (the README's
"about 0.013 on these faces")."""

import numpy as np
import pytest

from benchmark_scripts import load

floor = load("ece_sampling_floor")


def test_a_perfectly_calibrated_models_ece_is_sampling_noise_that_shrinks_as_one_over_root_n():
    rng = np.random.default_rng(1)
    small, large = rng.uniform(0.3, 1.0, 900), rng.uniform(0.3, 1.0, 3600)
    ece_small, ece_large = floor.sampled_ece(small, 400).mean(), floor.sampled_ece(large, 400).mean()
    assert ece_small == pytest.approx(floor.normal_approximation(small), rel=0.1)
    assert ece_large == pytest.approx(floor.normal_approximation(large), rel=0.1)
    assert ece_small / ece_large == pytest.approx(2.0, rel=0.15)  # 4x the faces, half the noise
    assert floor.sampled_ece(np.ones(100), 5).max() == 0.0  # sure and always right: no gap to sample
