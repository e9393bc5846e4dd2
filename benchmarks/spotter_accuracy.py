"""Apex spotter accuracy (vs the annotations) and speed (vs decoding), old estimator as baseline.

For each synthetic default copy (seed 0, the configs' sizes: ``synthetic_casme2`` 340x280,
``synthetic_samm`` 480x325), every clip whose apex is annotated and strictly inside
(onset, offset) is decoded once; then :func:`mer_utils.spotting.spot_apex` and the loader's
old re-estimation (``frames.estimate_apex`` on 64x64 frames, as ``datasets`` calls it) run on
the decoded frames. Printed per layout and blink / no blink (the generator's plan says which
clips blink; only this breakdown uses it): median |error| in frames, % within 10 % of the clip
length (T - 1), % within 2 frames, % beyond 20 %; then clips/s of decoding a clip
(``frames.read_clip``) vs spotting its decoded frames, best of 3 per clip on the first 30.

    MER_ROOT=/tmp/somewhere python benchmarks/spotter_accuracy.py [--datasets synthetic_casme2]
"""

from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd
from _timing import best_time

from mer_utils.config import load_config
from mer_utils.console import progress_bar
from mer_utils.dataset_specs import SPECS
from mer_utils.datasets import open_dataset
from mer_utils.frames import crop_resize, estimate_apex, read_clip
from mer_utils.spotting import has_true_apex, spot_apex
from mer_utils.synthetic import plan_clips

TIMED = 30  # clips per dataset timed for speed


def measure(name: str) -> tuple[pd.DataFrame, dict[str, float]]:
    """One row per measured clip and method; best-of-3 seconds of decoding and of spotting
    the first :data:`TIMED` clips (best-of: the machine is shared, spikes are not the code)."""
    cfg = load_config(name)
    ds = open_dataset(cfg)
    plans = {(p.subject, p.clip): p for p in plan_clips(SPECS[cfg.layout], 0, cfg.synthetic_scale)}
    samples = [s for s in ds.samples if has_true_apex(s)]
    rows, secs = [], {"decode": 0.0, "spot": 0.0}
    for i, s in enumerate(progress_bar(samples, desc=name, unit="clip")):
        native = read_clip(s.frames)
        spotted = spot_apex(native)
        if i < TIMED:
            secs["decode"] += best_time(lambda s=s: read_clip(s.frames), repeats=3, warmup=0)
            secs["spot"] += best_time(lambda n=native: spot_apex(n), repeats=3, warmup=0)
        old = estimate_apex(np.stack([crop_resize(f, 64) for f in native]))
        T, apex = len(native), s.apex - s.onset
        blink = "blink" if plans[(s.subject, s.clip)].blink else "no blink"
        for method, guess in (("spotter", spotted), ("old estimate_apex", old)):
            rows.append((name, blink, method, T, abs(guess - apex), abs(guess - apex) / (T - 1)))
    secs |= {"clips": len(samples), "timed": min(TIMED, len(samples))}
    secs["left_out"] = len(ds.samples) - len(samples)
    return pd.DataFrame(rows, columns=["dataset", "blink", "method", "T", "err", "rel"]), secs


def summary(df: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, method and blink group (plus 'all'): the accuracy columns."""
    both = pd.concat([df, df.assign(blink="all")])
    g = both.groupby(["dataset", "method", "blink"], sort=False)
    return pd.DataFrame(
        {
            "clips": g.size(),
            "median |err| (frames)": g.err.median(),
            "% within 10%": g.rel.apply(lambda x: 100 * (x <= 0.1).mean()),
            "% within 2 fr": g.err.apply(lambda x: 100 * (x <= 2).mean()),
            "% beyond 20%": g.rel.apply(lambda x: 100 * (x > 0.2).mean()),
        }
    ).round(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", nargs="+", default=["synthetic_casme2", "synthetic_samm"])
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = [measure(n) for n in args.datasets]
    df = pd.concat([r[0] for r in results])
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary(df).to_string())
        print(summary(df.assign(dataset="both")).loc["both"].to_string())
    for name, (_, secs) in zip(args.datasets, results, strict=True):
        n = secs["timed"]
        print(
            f"{name}: {secs['clips']} clips measured ({secs['left_out']} left out: apex not "
            f"annotated, or on the onset/offset); speed over {n} clips (best of 3 each): decode "
            f"{n / secs['decode']:.1f} clips/s, spot {n / secs['spot']:.1f} clips/s (spotting "
            f"costs {secs['spot'] / secs['decode']:.2f} x the decode)"
        )


if __name__ == "__main__":
    main()
