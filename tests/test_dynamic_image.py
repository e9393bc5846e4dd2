"""Properties of the ARP weights and dynamic images that would catch real bugs."""

import numpy as np
import pytest
import torch

from mer_utils.dynamic_image import arp_weights, dynamic_image, phase_dynamic_images, to_uint8


def _clip(T=9, H=6, W=5, C=3, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(T, H, W, C), dtype=np.uint8)


@pytest.mark.parametrize("variant", ["paper", "bilen"])
@pytest.mark.parametrize("T", range(2, 150))
def test_weights_sum_to_zero(variant, T):
    assert abs(arp_weights(T, variant).sum()) < 1e-9 * T * T


def test_paper_weights_values_and_reverse():
    np.testing.assert_array_equal(arp_weights(4), [-3, -1, 1, 3])
    np.testing.assert_array_equal(arp_weights(4, reverse=True), [3, 1, -1, -3])
    np.testing.assert_array_equal(arp_weights(2), [-1, 1])


def test_bilen_weights_match_definition_and_are_not_antisymmetric():
    T = 5
    H = np.concatenate([[0.0], np.cumsum(1 / np.arange(1, T + 1))])
    expected = [2 * (T - t + 1) - (T + 1) * (H[T] - H[t - 1]) for t in range(1, T + 1)]
    w = arp_weights(T, "bilen")
    np.testing.assert_allclose(w, expected)
    assert not np.allclose(w, -w[::-1])


def test_unknown_variant_and_bad_T():
    with pytest.raises(ValueError, match="variant"):
        arp_weights(5, "snippet")
    with pytest.raises(ValueError):
        arp_weights(0)


def test_two_frames_give_frame_difference():
    f = _clip(T=2)
    di = dynamic_image(f)
    np.testing.assert_array_equal(di, f[1].astype(np.float32) - f[0].astype(np.float32))


def test_one_frame_is_an_error_not_a_zero_image():
    with pytest.raises(ValueError, match="at least 2 frames"):
        dynamic_image(_clip(T=1))


def test_vectorised_equals_naive_loop():
    f = _clip(T=37, H=70, W=90)  # > one pixel block, odd sizes
    for variant in ("paper", "bilen"):
        w = arp_weights(37, variant)
        naive = sum(w[t] * f[t].astype(np.float64) for t in range(37))
        np.testing.assert_allclose(dynamic_image(f, variant), naive, rtol=1e-5, atol=1e-2)


def test_reversed_paper_di_is_negated_forward_di():
    f = _clip(T=23)
    fwd, rev = dynamic_image(f), dynamic_image(f, reverse=True)
    np.testing.assert_array_equal(rev, -fwd)
    u_fwd, u_rev = to_uint8(fwd).astype(int), to_uint8(rev).astype(int)
    diff = np.abs(u_rev - (255 - u_fwd))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99  # equal but for rounding ties


def test_numpy_and_torch_agree():
    f = _clip(T=11)
    t = dynamic_image(torch.from_numpy(f))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), dynamic_image(f), rtol=1e-6, atol=1e-3)
    np.testing.assert_array_equal(to_uint8(t).numpy(), to_uint8(dynamic_image(f)))


def test_float_input_matches_uint8_input():
    f = _clip(T=8)
    np.testing.assert_allclose(dynamic_image(f.astype(np.float64)), dynamic_image(f), atol=1e-3)


def test_frame_order_is_used_as_given():
    # Sorting is the loader's job: reversing the input must flip the paper DI's sign.
    f = _clip(T=10)
    np.testing.assert_array_equal(dynamic_image(f[::-1]), -dynamic_image(f))


def test_phase_dis_split_at_apex_and_share_it():
    f = _clip(T=12)
    onset, apex, offset = 100, 104, 111
    p = phase_dynamic_images(f, onset, apex, offset)
    np.testing.assert_array_equal(p.full, dynamic_image(f))
    np.testing.assert_array_equal(p.onset, dynamic_image(f[:5]))
    np.testing.assert_array_equal(p.offset, dynamic_image(f[4:], reverse=True))
    np.testing.assert_array_equal(p.offset, -dynamic_image(f[4:]))
    assert p.onset_reason is None and p.offset_reason is None


def test_degenerate_phases_are_absent_with_reason():
    f = _clip(T=6)
    p = phase_dynamic_images(f, 10, 10, 15)
    assert p.onset is None and "apex == onset" in p.onset_reason and p.offset is not None
    p = phase_dynamic_images(f, 10, 15, 15)
    assert p.offset is None and "apex == offset" in p.offset_reason and p.onset is not None
    p = phase_dynamic_images(f, 10, 11, 15)  # 2-frame onset phase: a plain difference
    np.testing.assert_array_equal(p.onset, f[1].astype(np.float32) - f[0])


def test_phase_input_validation():
    f = _clip(T=6)
    with pytest.raises(ValueError, match="imply 7"):
        phase_dynamic_images(f, 10, 12, 16)
    with pytest.raises(ValueError, match="outside"):
        phase_dynamic_images(f, 10, 16, 15)


def test_to_uint8_global_minmax_and_constant_error():
    di = np.array([[[-2.0, 0.0, 2.0]]], dtype=np.float32)
    np.testing.assert_array_equal(to_uint8(di), [[[0, 128, 255]]])
    with pytest.raises(ValueError, match="constant"):
        to_uint8(np.zeros((3, 3, 3), np.float32))
