"""Stale-claim takeover under contention: N processes try the same stale claims at once.

    python benchmarks/claims_race.py                       # this tree's mer_utils.claims
    python benchmarks/claims_race.py --rev ee5b4af         # claims.py of another commit

Each trial plants one stale claim (a dead pid on this host, a silent owner on another host, or
an empty file), releases all processes at a barrier, lets each call ``try_claim`` once, and
counts the winners. A correct takeover has exactly one winner per trial. Prints the trials with
two or more holders and the wall time (a shared, busy machine: compare runs of one call only).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _module(source: str):
    """mer_utils.claims, or claims.py of a git revision loaded from a file."""
    if source == "tree":
        sys.path.insert(0, str(ROOT))
        import mer_utils.claims as claims

        return claims
    spec = importlib.util.spec_from_file_location("claims_at_rev", source)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _plant(path: Path, kind: int, host: str) -> None:
    if kind == 0:
        path.write_text(json.dumps(dict(host=host, pid=999_999_999, started=0)))
        return
    path.write_text("" if kind == 2 else json.dumps(dict(host="gone-node", pid=1, started=0)))
    old = time.time() - 3600
    os.utime(path, (old, old))


def _contender(source: str, folder: str, trials: int, barrier) -> None:
    logging.disable(logging.WARNING)  # one "stale claim taken over" line per takeover
    claims = _module(source)
    won = []
    for t in range(trials):
        barrier.wait()
        claim = claims.try_claim(Path(folder) / f"trial{t}.claim", stale_s=60)
        barrier.wait()  # all have tried while the winner holds it
        if claim is not None:
            won.append(t)
            claim.release()
    Path(folder, f"won-{os.getpid()}.json").write_text(json.dumps(won))


def race(source: str, processes: int, trials: int) -> tuple[int, int, float]:
    """(trials with 2+ holders, trials with none, seconds)."""
    host = _module(source).HOST
    with tempfile.TemporaryDirectory() as folder:
        for t in range(trials):
            _plant(Path(folder) / f"trial{t}.claim", t % 3, host)
        ctx = multiprocessing.get_context("spawn")
        barrier = ctx.Barrier(processes)
        args = (source, folder, trials, barrier)
        procs = [ctx.Process(target=_contender, args=args) for _ in range(processes)]
        t0 = time.perf_counter()
        for p in procs:
            p.start()
        for p in procs:
            p.join()
        seconds = time.perf_counter() - t0
        won = Counter(t for f in Path(folder).glob("won-*.json") for t in json.loads(f.read_text()))
    return sum(n > 1 for n in won.values()), trials - len(won), seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rev", help="a git revision whose mer_utils/claims.py to race instead")
    ap.add_argument("--processes", type=int, default=8)
    ap.add_argument("--trials", type=int, default=300)
    args = ap.parse_args()
    source = "tree"
    if args.rev:
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{args.rev}:mer_utils/claims.py"], capture_output=True, text=True, check=True).stdout  # fmt: skip
        source = str(Path(tempfile.mkdtemp()) / "claims_at_rev.py")
        Path(source).write_text(text)
    double, none, seconds = race(source, args.processes, args.trials)
    what = f"claims.py of {args.rev}" if args.rev else "this tree's mer_utils.claims"
    print(f"{what}: {args.processes} processes x {args.trials} stale claims: {double} trials with two or more holders, {none} with none, {seconds:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()
