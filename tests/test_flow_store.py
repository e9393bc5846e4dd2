"""The flow store and flow inputs wired into training: cached and checksummed like the DI
store, rebuilt when the algorithm changes, merged into the DI store's rows, a flow
configuration trained through the sweep beside DI configurations in one run's Table I, and
Flip/Rotate negating u on the training batches of a flow configuration."""

import numpy as np
import pytest
import torch

from mer_utils.configurations import FLOW_KINDS, get_configuration
from mer_utils.datasets import load_dataset
from mer_utils.flow import ZERO, FlowParams, encode_flow, flip_flow, sample_flows
from mer_utils.flow_store import build_flow_store, flow_store_key, with_flows
from mer_utils.model_specs import plan_model
from mer_utils.paths import cache_dir
from mer_utils.store import build_store
from mer_utils.train import DeviceStore, TrainParams, fit_fold


def test_flow_store_holds_each_clips_encoded_flows(tiny_casme2, isolated_root):
    ds = load_dataset("casme2", tiny_casme2)
    p = FlowParams(size=28)
    st = build_flow_store(ds, p, workers=2)
    assert st.images.dtype == np.uint8 and st.images.shape[1:] == (3, 28, 28)
    for i in (0, len(ds.samples) - 1):
        c = sample_flows(ds.samples[i], p)
        for kind, m in zip(FLOW_KINDS, (c.onset, c.offset), strict=True):
            row = st.rows[kind][i]
            assert (row < 0) == (m is None)
            if m is not None:
                assert np.array_equal(st.images[row], encode_flow(m, p))
    one_frame = [i for i, s in enumerate(ds.samples) if s.apex == s.onset]
    assert one_frame and (st.rows["flow_onset"][one_frame] == -1).all()  # the tiny copy has one
    assert st.index.loc[one_frame[0], "flow_onset_note"].startswith("onset phase has 1 frame")


def test_flow_store_cache_hit_rebuild_on_algorithm_change_and_damage(
    tiny_casme2, isolated_root, monkeypatch
):
    import mer_utils.flow_store as fs

    ds = load_dataset("casme2", tiny_casme2)
    calls = []
    real = fs._compute
    monkeypatch.setattr(fs, "_compute", lambda *a: calls.append(a[1].algorithm) or real(*a))
    far = build_flow_store(ds, FlowParams("farneback", 28))
    again = build_flow_store(ds, FlowParams("farneback", 28))
    assert calls == ["farneback"] and np.array_equal(far.images, again.images)
    dis = build_flow_store(ds, FlowParams("dis", 28))
    assert calls == ["farneback", "dis"] and dis.key != far.key
    assert not np.array_equal(dis.images, far.images)
    assert flow_store_key(ds, FlowParams("farneback", 28, max_motion=0.1), False) != far.key
    # a DI store's key never depends on the flow: changing the algorithm rebuilds no DI
    (folder,) = [f for f in cache_dir("flow_store").iterdir() if f.name.endswith(far.key)]
    raw = bytearray((folder / "images.npy").read_bytes())
    raw[-1] ^= 0xFF  # one flipped byte in the codes
    (folder / "images.npy").write_bytes(bytes(raw))
    rebuilt = build_flow_store(ds, FlowParams("farneback", 28))
    assert calls == ["farneback", "dis", "farneback"]
    assert np.array_equal(rebuilt.images, far.images)


def test_with_flows_appends_flow_rows_after_the_dis(tiny_casme2, isolated_root):
    ds = load_dataset("casme2", tiny_casme2)
    di, fl = build_store(ds, 32), build_flow_store(ds, FlowParams(size=32))
    both = with_flows(di, fl)
    assert np.array_equal(both.kind("full"), di.kind("full"))
    assert np.array_equal(both.kind("onset"), di.kind("onset"))
    for kind in FLOW_KINDS:
        assert np.array_equal(both.kind(kind), fl.kind(kind))
        assert ((both.rows[kind] >= len(di.images)) == (fl.rows[kind] >= 0)).all()
    with pytest.raises(ValueError, match="differ in clips or size"):
        with_flows(di, build_flow_store(ds, FlowParams(size=28)))


def test_flip_rotate_of_a_flow_configuration_negates_u_on_training_batches(
    tiny_casme2, isolated_root, monkeypatch
):
    """The batches fit_fold trains a flow configuration on go through flip_rotate_flow: each
    equals the flow of the transformed frames (flow_augment.transform_flow with the same draws),
    and a sample that is only flipped has u -> 256 - u, mirrored (DI flip_rotate would not)."""
    import mer_utils.augment as aug
    from mer_utils.flow_augment import transform_flow

    ds = load_dataset("casme2", tiny_casme2)
    store = with_flows(build_store(ds, 28), build_flow_store(ds, FlowParams(size=28)))
    data = DeviceStore.from_store(store, "cpu")
    seen = []
    real = aug.AUGMENTATIONS["flip_rotate_flow"]

    def spy(x, gen):
        state = gen.get_state()
        y = real(x, gen)
        seen.append((x.clone(), y.clone(), state))
        return y

    monkeypatch.setitem(aug.AUGMENTATIONS, "flip_rotate_flow", spy)
    assert get_configuration("flow_flip_rotate").augment == ("flip_rotate_flow",)
    n = len(data.labels)
    train, test = np.arange(0, n, 2), np.arange(1, n, 2)
    p = TrainParams(epochs=1, patience=2, batch_size=4)
    plan = plan_model("ststnet")
    fit_fold(plan, data, train, test, test, "flow_flip_rotate", p, seed=0, progress=False)
    n_train = (data.rows["flow_onset"][train] >= 0).sum()
    assert sum(len(x) for x, _, _ in seen) == n_train
    flow_rows = set(data.rows["flow_onset"][train]) - {-1}
    for x, y, state in seen:
        gen = torch.Generator().manual_seed(0)
        gen.set_state(state)
        flip = torch.rand(len(x), generator=gen) < 0.5
        angle = (torch.rand(len(x), generator=gen) * 2 - 1) * np.radians(10.0)
        assert torch.allclose(y, transform_flow(x, flip, angle), atol=1e-4)
        assert any(torch.equal(x[0].to(torch.uint8), data.images[r]) for r in flow_rows)
    x = seen[0][0]
    flipped = transform_flow(x, torch.ones(len(x), dtype=torch.bool), torch.zeros(len(x)))
    want = torch.as_tensor(flip_flow(x.numpy().astype(np.uint8))).float()
    assert torch.allclose(flipped, want, atol=1e-3)  # u -> 256 - u, mirrored; v, strain mirrored
    assert (x[:, 0] != ZERO).any()  # there is motion to negate
    di_flip = aug.flip_rotate(x, torch.Generator().manual_seed(0))
    assert not torch.allclose(di_flip, transform_flow(x, *_draws(len(x))), atol=1e-3)


def _draws(b: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    flip = torch.rand(b, generator=gen) < 0.5
    return flip, (torch.rand(b, generator=gen) * 2 - 1) * np.radians(10.0)


def test_flow_and_di_rows_side_by_side_in_one_runs_table1(isolated_root):
    """The smoke grid with a DI and two flow configurations: one run, flow records scored on
    flows only and keyed by the flow store, DI records by the DI store, one Table I."""
    from mer_utils.config import load_config
    from mer_utils.run_handle import open_run
    from mer_utils.sweep import run_sweep

    confs = ["baseline", "flow_baseline", "flow_dual_flip_rotate"]
    cfg = load_config("smoke", models=["ststnet"], configurations=confs)
    res = run_sweep(cfg, progress=False)
    assert {(r.configuration, r.fold) for r in res.records} == {
        (c, f) for c in confs for f in (0, 1)
    }
    keys = {}
    for r in res.records:
        flow = r.configuration.startswith("flow")
        assert set(r.scores) == set(FLOW_KINDS) if flow else "full" in r.scores
        keys.setdefault(flow, set()).add(r.params["store_key"])
        assert len(r.y_pred) == len(r.split["test"])
    assert len(keys[True]) == len(keys[False]) == 1 and keys[True] != keys[False]
    t = open_run(res.run.folder).table1()
    measured = t[(t.status == "measured") & (t.key_model == "ststnet")]
    assert list(measured.key_configuration) == confs
    assert (measured.folds == 2).all() and measured.uf1_mean.notna().all()
    assert set(measured.row) == {"addition (not in the paper)"}
    d = open_run(res.run.folder).di_vs_flow().set_index("key_configuration")
    base, dual = d.loc["baseline"], d.loc["dual_di_flip_rotate"]
    cell = measured.set_index("key_configuration")
    assert base.di_uf1 == cell.loc["baseline", "uf1_mean"]
    assert base.flow_uf1 == cell.loc["flow_baseline", "uf1_mean"]
    assert base.flow_minus_di_uf1 == base.flow_uf1 - base.di_uf1
    assert np.isnan(dual.di_uar) and dual.flow_folds == 2 and dual.di_folds == 0
    # the same request again reuses every record (flow store loaded, keys unchanged)
    assert run_sweep(cfg, progress=False).counts == {"reused": 6}


def test_the_flow_algorithm_is_part_of_the_run(isolated_root):
    from mer_utils.config import load_config
    from mer_utils.runs import make_run

    runs = [
        make_run(load_config("smoke", flow_algorithm=a).effective(), "f" * 20, ("a",), "cpu")
        for a in ("farneback", "dis")
    ]
    assert runs[0].run_id != runs[1].run_id


def test_a_test_clip_without_onset_flow_is_scored_on_its_offset_flow():
    from mer_utils.configurations import predict_from_scores

    spec = get_configuration("flow_baseline")
    scores = {"flow_onset": [[0.0, 3.0], None], "flow_offset": [[5.0, 0.0], [0.0, 2.0]]}
    # clip 0 has its onset flow: that alone counts; clip 1 has none: its offset flow stands in
    assert predict_from_scores(scores, spec.eval_kinds, spec.eval_fallback) == [1, 1]
    with pytest.raises(ValueError, match="none of the kinds"):
        predict_from_scores(scores, spec.eval_kinds)
