"""SMIC-HS, MMEW and CAS(ME)^3 Part A read from trees written from the facts file's real names
(tests/realistic_megc.py), every quirk a report row."""

import pytest
from realistic_megc import CASME3_BROKEN, SMIC_CLIPS, casme3_tree, mmew_tree, smic_tree

from mer_utils.datasets import load_dataset


def _rows(ds, subject, clip_prefix):
    r = ds.report
    return r[(r["subject"] == subject) & r["clip"].str.startswith(clip_prefix)]


def test_smic_labels_from_folders_absolute_counters_and_no_apex(tmp_path):
    ds = load_dataset("smic", smic_tree(tmp_path))
    by = {s.clip: s for s in ds.samples}
    assert set(by) == {c[2] for c in SMIC_CLIPS}  # non_micro/ is not read
    assert ds.counts().to_dict() == dict(negative=2, positive=2, surprise=1)
    s20 = by["s20_po_01"]
    assert (s20.subject, s20.onset, s20.offset) == ("s20", 12345678, 12345699)
    assert s20.frames[0].name == "reg_image12345678.bmp" and len(s20.frames) == 22
    assert all(s.apex_source == "estimated" and s.onset < s.apex < s.offset for s in by.values())
    assert len(ds.report[ds.report["problem"].str.startswith("no apex annotation")]) == 5
    gap = by["s3_sur_01"]  # frame 1210 missing: cut to the longer run of frames, reported
    assert (gap.onset, gap.offset) == (1211, 1224)
    assert "1 of 25 frames" in " ".join(_rows(ds, "s3", "s3_sur_01")["problem"])


def test_smic_midpoint_policy_is_named_in_samples_and_report(tmp_path):
    ds = load_dataset("smic", smic_tree(tmp_path), apex_policy="midpoint")
    s = next(s for s in ds.samples if s.clip == "s1_ne_01")
    assert (s.apex, s.apex_source) == ((36237 + 36256) // 2, "midpoint")
    assert ds.report["policy"].str.contains("midpoint").sum() == 5


@pytest.mark.parametrize("others_folder", ["repression", "others"])
def test_mmew_emotion_first_tree_others_in_either_folder(tmp_path, others_folder):
    ds = load_dataset("mmew", mmew_tree(tmp_path, others_folder))
    by = {s.clip: s for s in ds.samples}
    assert set(by) == {"S01-01-001", "S01-02-001", "S02-03-001", "S03-04-001"}
    s = by["S01-01-001"]
    assert (s.subject, s.label, s.onset, s.apex, s.offset) == ("S01", "happiness", 1, 15, 31)
    assert s.frames[0].parent.parent.name == "happiness" and s.frames[-1].name == "31.jpg"
    assert "not in the 6-class task" in " ".join(_rows(ds, "S02", "S02-07")["problem"])


def test_casme3_label_sheet_text_cells_several_mes_per_video_broken_rows(tmp_path):
    ds = load_dataset("casme3", casme3_tree(tmp_path))
    by = {(s.subject, s.clip): s for s in ds.samples}
    assert {("spNO.1", "b_166"), ("spNO.1", "b_300"), ("spNO.1", "J_40")} <= set(by)
    s = by["spNO.1", "b_166"]
    assert (s.onset, s.apex, s.offset, s.label) == (166, 175, 179, "disgust")
    assert s.frames[0].as_posix().endswith("spNO.1/b/color/166.jpg")
    assert by["spNO.1", "J_40"].label == "others"  # 'Others', capitalised
    assert by["spNO.2", "a_90"].apex == 90  # onset == apex: kept, reported
    for subject, video in CASME3_BROKEN:  # each broken row: repaired or dropped, reported
        assert len(_rows(ds, subject, f"{video}_")), (subject, video)
    assert by["spNO.149", "d_500"].apex_source == "estimated"  # apex < onset: re-estimated
    assert by["spNO.216", "d_3647"].apex_source == "estimated"  # onset 3647 > apex 2668
    assert ("spNO.214", "c_5") not in by  # a 3456-frame clip is a broken row
    assert not any(k[0] == "spNO.40" for k in by)  # offset 0, both rows
    assert ("spNO.216", "e_0") not in by  # onset = apex = 0 .. 1400: not a micro-expression


@pytest.mark.parametrize("layout", ["smic", "mmew", "casme3"])
def test_folder_report_and_preflight_follow_each_layouts_tree(tmp_path, layout):
    """The unlisted-folder rows and the preflight's sheet check walk the layout's own tree
    (SMIC-HS ``s<N>/micro/<label>/<clip>``, MMEW ``<label>/<clip>``, CAS(ME)^3
    ``<subject>/<video>/color``): a tree read in full has no 'no sheet row' report row and no
    sheet problem; one more clip folder is reported by its path."""
    from mer_utils.datasets import NO_SHEET_ROW, sheet_problems

    tree = dict(smic=smic_tree, mmew=mmew_tree, casme3=casme3_tree)[layout]
    root = tree(tmp_path)
    ds = load_dataset(layout, root)
    assert not (ds.report.row == NO_SHEET_ROW).any()
    assert sheet_problems(layout, root) == []
    first = ds.samples[0].frames[0].parent
    extra = first.parent / "zz_extra" if layout != "casme3" else first.parent.parent / "zz/color"
    extra.mkdir(parents=True)
    (extra / first.iterdir().__next__().name).write_bytes(b"")
    ds = load_dataset(layout, root)
    unlisted = ds.report[ds.report.row == NO_SHEET_ROW]
    if layout == "smic":  # a folder is a clip: the extra folder is a row (its frame is empty)
        assert not len(unlisted)
    else:
        assert list(unlisted.problem.str.split(":").str[0]) == [str(extra)]


def test_class_tasks_map_labels_and_count_what_they_leave_out(tmp_path):
    """MMEW 3-class and CAS(ME)^3 4/3-class, as shared/datasets_megc.md defines them."""
    ds = load_dataset("mmew", mmew_tree(tmp_path / "m"), task="3class")
    assert ds.classes == ("negative", "positive", "surprise")
    by = {s.clip: s.label for s in ds.samples}
    assert by == {"S01-01-001": "positive", "S01-02-001": "surprise", "S02-03-001": "negative",
                  "S03-04-001": "negative"}  # fmt: skip
    assert "not in the 3class task" in " ".join(_rows(ds, "S02", "S02-07")["problem"])
    root = casme3_tree(tmp_path / "c")
    full = {(s.subject, s.clip): s.label for s in load_dataset("casme3", root).samples}
    four = load_dataset("casme3", root, task="4class")
    assert four.classes == ("negative", "positive", "surprise", "others")
    got = {(s.subject, s.clip): s.label for s in four.samples}
    assert got.keys() == full.keys() and got["spNO.1", "b_166"] == "negative"
    assert got["spNO.1", "J_40"] == "others"  # 'Others', capitalised, is an others clip
    three = load_dataset("casme3", root, task="3class")
    assert {(s.subject, s.clip) for s in three.samples} == {
        k for k, v in got.items() if v != "others"
    }
    assert three.labels().max() == 2 and len(three.fingerprint()) == 20
    assert three.fingerprint() != four.fingerprint()
    with pytest.raises(ValueError, match="no class task '5class'"):
        load_dataset("casme3", root, task="5class")
