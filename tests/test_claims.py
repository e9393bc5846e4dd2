"""Claims under contention: many processes taking over the same stale claims at once never end
with two holders of one claim (the old check-then-rename let 4 of 140 trials have two)."""

import errno
import json
import multiprocessing
import os
import pickle
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from mer_utils import claims
from mer_utils.claims import HOST, DiskFull, release_all, try_claim, write_atomic

PROCESSES, TRIALS = 8, 500


def _plant_stale(path: Path, kind: int) -> None:
    """A stale claim of three kinds: a dead pid on this host, a silent owner on another host,
    an empty file whose creator died before writing."""
    if kind == 0:
        path.write_text(json.dumps(dict(host=HOST, pid=999_999_999, started=0)))
    else:
        path.write_text("" if kind == 2 else json.dumps(dict(host="gone-node", pid=1, started=0)))
        old = time.time() - 3600
        os.utime(path, (old, old))


def _contender(folder: str, trials: int, barrier) -> None:
    """Each trial: all contenders try the same stale claim at once; the winners hold it until
    everyone has tried, then release it. Writes the trials this process won."""
    won = []
    for t in range(trials):
        barrier.wait()
        claim = try_claim(Path(folder) / f"trial{t}.claim", stale_s=60)
        barrier.wait()  # every contender has tried trial t while the winner still holds it
        if claim is not None:
            won.append(t)
            claim.release()
    Path(folder, f"won-{os.getpid()}.json").write_text(json.dumps(won))


def test_concurrent_takeovers_of_stale_claims_leave_one_holder(tmp_path):
    for t in range(TRIALS):
        _plant_stale(tmp_path / f"trial{t}.claim", t % 3)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    procs = [ctx.Process(target=_contender, args=(str(tmp_path), TRIALS, barrier)) for _ in range(PROCESSES)]  # fmt: skip
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=110)
        assert p.exitcode == 0, "a contender failed or hung"
    holders = Counter(t for f in tmp_path.glob("won-*.json") for t in json.loads(f.read_text()))
    assert sorted(holders) == list(range(TRIALS))  # every stale claim was taken over ...
    assert [t for t, n in holders.items() if n > 1] == []  # ... by exactly one process
    assert not list(tmp_path.glob("*.claim*"))  # every holder released, nothing left aside


@pytest.fixture()
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs: a real full disk (needs root, as CI has)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        pytest.skip(f"a real full disk needs a small tmpfs (root): {r.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_a_full_disk_is_one_line_naming_the_path_and_publishes_nothing(tiny_disk):
    path = tiny_disk / "runs" / "seed0-fold0.json"
    with pytest.raises(DiskFull) as e:
        write_atomic(path, lambda tmp: tmp.write_bytes(b"x" * 2**20))
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith(f"disk full writing {path}: it needs more than")
    assert list(path.parent.iterdir()) == []  # no partial file, no private leftover
    again = pickle.loads(pickle.dumps(e.value))  # workers and SLURM jobs send it back pickled
    assert isinstance(again, DiskFull) and str(again) == msg and again.errno == errno.ENOSPC

    folder = tiny_disk / "store"
    with pytest.raises(DiskFull, match=f"disk full writing {folder}: "):
        claims.publish_folder(folder, lambda tmp: (tmp / "images.npy").write_bytes(b"x" * 2**20))
    assert not folder.exists() and list(tiny_disk.iterdir()) == [path.parent]


def test_a_sigterm_handler_releases_every_held_claim(tmp_path):
    held = [try_claim(tmp_path / f"u{i}.claim") for i in range(3)]
    assert all(held) and len(list(tmp_path.glob("*.claim"))) == 3
    assert sorted(release_all()) == sorted(c.path for c in held)
    assert not list(tmp_path.glob("*.claim")) and release_all() == []


def test_an_owner_never_removes_a_claim_that_was_taken_over_from_it(tmp_path):
    path = tmp_path / "unit.claim"
    old = try_claim(path, stale_s=60)
    past = time.time() - 3600
    os.utime(path, (past, past))  # its heartbeat stopped (a hung owner on another host)
    json_owner = json.loads(path.read_text())
    path.write_text(json.dumps({**json_owner, "host": "other-node"}))
    os.utime(path, (past, past))
    new = try_claim(path, stale_s=60)
    assert new is not None
    old.release()  # the hung owner wakes up and releases: the new holder's file must stay
    assert path.exists() and json.loads(path.read_text())["pid"] == os.getpid()
    new.release()
    assert not path.exists()


_CLAIM_LOOP = """
import sys, time
from pathlib import Path
from mer_utils.claims import try_claim
from mer_utils.signals import exit_on_terminate
exit_on_terminate("looper")
folder, i = Path(sys.argv[1]), 0
print("ready", flush=True)
while True:  # claim, release, claim the next: a SIGTERM lands at any point of it
    claim = try_claim(folder / f"u{i % 7}.claim")
    claim.release() if claim else None
    i += 1
"""


def test_sigterm_at_any_moment_of_claiming_leaves_no_claim_file(tmp_path):
    """A worker SIGTERMed while it creates, holds or releases claims releases what it holds and
    exits 143, whatever the moment: 40 processes, each terminated after a random delay."""
    rng = random.Random(0)
    env = {**os.environ, "PYTHONPATH": str(Path(claims.__file__).parents[1])}
    for k in range(40):
        folder = tmp_path / f"p{k}"
        folder.mkdir()
        proc = subprocess.Popen([sys.executable, "-c", _CLAIM_LOOP, str(folder)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.05))
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 143, err[-2000:]
        assert "SIGTERM: released" in err and not list(folder.iterdir()), (k, err[-2000:])
