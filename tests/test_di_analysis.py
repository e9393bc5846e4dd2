"""The full DI keeps the expression only through the timing asymmetry of its intensity."""

import numpy as np
import pytest

from mer_utils.di_analysis import aligned_profile, coefficient_curves, coefficients
from mer_utils.dynamic_image import dynamic_image
from mer_utils.synthetic import intensity_curve


def test_di_of_face_plus_scaled_pattern_is_the_coefficient_times_the_pattern():
    rng = np.random.default_rng(0)
    face, pattern = rng.normal(100, 30, (8, 9, 3)), rng.normal(0, 5, (8, 9, 3))
    p = intensity_curve(23, 7).astype(np.float64)
    frames = face[None] + p[:, None, None, None] * pattern[None]
    c = coefficients(p, 7)
    np.testing.assert_allclose(dynamic_image(frames), c["full"] * pattern, rtol=1e-4, atol=1e-2)
    np.testing.assert_allclose(
        dynamic_image(frames[:8]), c["onset"] * pattern, rtol=1e-4, atol=1e-2
    )
    np.testing.assert_allclose(
        dynamic_image(frames[7:], reverse=True), c["offset"] * pattern, rtol=1e-4, atol=1e-2
    )


def test_full_coefficient_is_zero_for_a_symmetric_profile_and_flips_sign_across_the_middle():
    T = 61
    assert coefficients(intensity_curve(T, 30), 30)["full"] == pytest.approx(0, abs=1e-3)  # float32
    c = coefficient_curves(intensity_curve, T, [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(c.full, [-584, -292, 0, 292, 584], atol=1)  # the numbers
    assert (c[["onset", "offset"]] > 0).all().all()  # phase DIs never flip
    tent = np.concatenate([np.linspace(0, 1, 31), np.linspace(1, 0, 31)[1:]])
    same = coefficient_curves(aligned_profile(tent), T, [0.2, 0.5, 0.8])
    assert same.full.iloc[0] < 0 < same.full.iloc[2] and abs(same.full.iloc[1]) < 1e-6
