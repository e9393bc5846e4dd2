"""The MEGC 2019 composite: the three sources read by their own loaders, mapped to
negative/positive/surprise, selected by the official ground truth (names normalised on
integers), every difference from it a report row; the synthetic composite's composition."""

from collections import Counter

import pytest
import realistic
import realistic_megc

from mer_utils.composites import (
    check_composite,
    int_key,
    load_composite,
    make_synthetic_composite,
    read_ground_truth,
    synthetic_part,
)
from mer_utils.dataset_specs import MEGC2019, DatasetError, normalise_label
from mer_utils.synthetic import plan_clips

CLASS = {"negative": 0, "positive": 1, "surprise": 2}


def _tree(root):
    realistic_megc.smic_tree(root / "SMIC")  # unpadded folders: s1, s1_ne_01
    realistic.casme2_tree(root / "CASME2", "20140508")
    realistic.samm_tree(root / "SAMM")  # folders 006; the ground truth says 6
    return root


def _gt_lines():
    """The fixture's clips as the official CSV names them (independent of our mapping code:
    the MEGC mapping written out by hand for the fixture's labels)."""
    lines = []
    for sub, label, clip, *_ in realistic_megc.SMIC_CLIPS:
        n = int(sub[1:])
        lines.append(f"smic,s{n:02d},{clip.replace(sub, f's{n:02d}', 1)},{CLASS[label]}")
    casme = {"happiness": 1, "disgust": 0, "repression": 0, "surprise": 2}
    for k, label in enumerate(realistic.CASME2_CLASSES * 4):
        if label in casme:
            lines.append(f"casme2,sub{1 + k % 4:02d},EP{k:02d}_0{k % 3}f,{casme[label]}")
    samm = {"Anger": 0, "Contempt": 0, "Happiness": 1, "Surprise": 2}
    for k in range(12):
        sub, label = ("006", "007", "009")[k % 3], ("Anger", "Contempt", "Happiness", "Surprise", "Other")[k % 5]  # fmt: skip
        if label in samm and k != 11:  # 11: truncated in the copy, not listed here
            lines.append(f"samm,{int(sub)},{sub}_1_{k},{samm[label]}")
    return lines


def test_ground_truth_names_select_the_clips_exactly_every_difference_a_row(tmp_path):
    root = _tree(tmp_path)
    lines = _gt_lines()
    lines.append("casme2,sub09,EP01_01,0")  # listed, but the copy lacks it
    lines[0] = lines[0][:-1] + "2"  # the ground truth disagrees with the folder's label
    (tmp_path / "gt.csv").write_text("\n".join(lines) + "\n")
    ds = load_composite("megc2019", root, ground_truth=tmp_path / "gt.csv")
    got = Counter((s.dataset, s.label) for s in ds.samples)
    want = Counter((ln.split(",")[0], MEGC2019.classes[int(ln[-1])]) for ln in lines[:-1])
    assert got == want  # exactly what the ground truth lists, less the clip the copy lacks
    rep = ds.report
    text = " | ".join(
        rep["subject"] + " " + rep["clip"] + ": " + rep["problem"] + " -> " + rep["policy"]
    )
    assert "casme2:sub09 EP01_01: in the ground truth (line" in text
    assert "smic:s1 s1_ne_01: ground truth says surprise" in text
    assert "casme2:sub05 EP90_end: not in the ground truth -> left out" in text
    assert "casme2:* *: 8 negative clips loaded, the ground truth lists 9" in text
    assert "smic:s3 s3_sur_01: " in text and "1 of 25 frames" in text  # the frame gap
    assert {s.subject for s in ds.samples if s.dataset == "samm"} == {"006", "007", "009"}
    assert all(s.label in MEGC2019.classes for s in ds.samples)


def test_without_ground_truth_counts_are_checked_against_the_official_table(tmp_path):
    ds = load_composite("megc2019", _tree(tmp_path))
    rows = ds.report[ds.report["policy"].str.startswith("official count differs")]
    assert len(rows) == 9 + 3  # every (source, class) and every source's subjects differ
    smic = rows[rows["subject"] == "smic:*"]["problem"].tolist()
    assert "2 negative clips loaded, the official table has 70" in smic
    samm = {s.clip: s.label for s in ds.samples if s.dataset == "samm"}
    assert samm["006_1_0"] == "negative" and samm["007_1_1"] == "negative"  # anger, contempt


def test_ground_truth_and_roots_problems_name_the_file_and_fix(tmp_path):
    (tmp_path / "bad.csv").write_text("casme2,sub01,EP02_01f,1\nsmic,s01,s01_ne_01,zero\n")
    with pytest.raises(DatasetError, match="bad.csv line 2"):
        read_ground_truth(tmp_path / "bad.csv", MEGC2019)
    realistic_megc.smic_tree(tmp_path / "SMIC")
    problems = check_composite("megc2019", tmp_path)
    assert len(problems) == 1 and "casme2 (CASME2/" in problems[0] and "samm (SAMM/" in problems[0]
    assert "data_roots" in problems[0]
    assert int_key("s01_ne_01") == int_key("s1_ne_01") and int_key("006") == int_key(6)


def test_synthetic_composite_has_the_real_composition():
    per, subjects = Counter(), {}
    for part in MEGC2019.parts:
        plans = plan_clips(synthetic_part(part), seed=0, scale=1.0)
        kept = [p for p in plans if normalise_label(p.label) in part.label_map]
        per.update((part.source, part.label_map[normalise_label(p.label)]) for p in kept)
        subjects[part.source] = len({p.subject for p in kept})
        assert {c: per[part.source, c] for c in MEGC2019.classes} == part.official
    assert subjects == {p.source: p.subjects for p in MEGC2019.parts}
    assert sum(per.values()) == 442 and sum(subjects.values()) == 68


def test_synthetic_composite_loads_through_its_ground_truth(tmp_path):
    root = make_synthetic_composite(tmp_path / "megc", scale=0.05, size=(24, 20), workers=1)
    gt = read_ground_truth(root / MEGC2019.ground_truth, MEGC2019)
    ds = load_composite("synthetic_megc2019", root, ground_truth=root / MEGC2019.ground_truth)
    assert len(ds.samples) == len(gt) and {s.dataset for s in ds.samples} == {
        "smic",
        "casme2",
        "samm",
    }
    assert not ds.report["policy"].str.startswith("official").any()
    assert any(r.subject.startswith("s0") for r in gt if r.db == "smic")  # padded, as official
