"""Atomic claims on work shared by processes, sweeps and cluster jobs (no scheduler of ours).

A claim is a small file created with ``O_CREAT | O_EXCL`` (atomic on local and NFS v3+ file
systems) holding host, pid and start time. While its owner works, a heartbeat thread touches it
every ``stale_s / 10`` seconds. A claim is **stale** when its owner is a dead process on this
host, or when it has not been touched for ``stale_s`` (an owner on another host that died):
then anyone may take it over. Used for fold units (:mod:`mer_utils.sweep`), DI-store builds and
synthetic-data generation (:func:`exclusive`, which waits for the claim).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import logging
import os
import shutil
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)
HOST = socket.gethostname()
STALE_S = 600.0  # an owner that stopped touching its claim for this long is presumed dead


def pid_alive(pid: int) -> bool:
    """True if a process with ``pid`` exists on this host (a zombie counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def owner_dead(host: str, pid: int) -> bool:
    """True only when the owner is provably gone: a dead pid on this very host."""
    return host == HOST and pid != os.getpid() and not pid_alive(pid)


class Claim:
    """A held claim: touched by a heartbeat thread until :meth:`release`."""

    def __init__(self, path: Path, stale_s: float):
        self.path = path
        self._stop = threading.Event()
        self._beat = threading.Thread(target=self._heartbeat, args=(stale_s / 10,), daemon=True)
        self._beat.start()

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            with contextlib.suppress(OSError):
                os.utime(self.path)

    def release(self) -> None:
        self._stop.set()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def is_stale(path: Path, stale_s: float = STALE_S) -> bool:
    """True if the claim at ``path`` may be taken over (see the module docstring)."""
    try:
        age = time.time() - path.stat().st_mtime
        info = json.loads(path.read_text() or "{}")
    except FileNotFoundError:
        return False
    except (OSError, ValueError):
        info = {}
    if "pid" in info and owner_dead(info.get("host", ""), int(info["pid"])):
        return True
    return age > (stale_s if info else 5.0)  # empty: its creator died before writing


def try_claim(path: Path, stale_s: float = STALE_S) -> Claim | None:
    """Claim ``path`` atomically, taking over a stale claim; None if someone holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not is_stale(path, stale_s):
                return None
            with contextlib.suppress(FileNotFoundError):  # one taker wins the rename
                aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
                os.replace(path, aside)
                aside.unlink()
                log.warning("%s: stale claim taken over (its owner is gone)", path)
            continue
        with os.fdopen(fd, "w") as f:
            json.dump(dict(host=HOST, pid=os.getpid(), started=time.time()), f)
        return Claim(path, stale_s)
    return None


@contextlib.contextmanager
def exclusive(
    path: Path, what: str, stale_s: float = STALE_S, poll: float = 0.5
) -> Iterator[Claim]:
    """Hold the claim at ``path`` for the ``with`` block, waiting while another holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    waited = False
    while (claim := try_claim(path, stale_s)) is None:
        if not waited:
            log.info("waiting for %s (another process holds %s)", what, path.name)
            waited = True
        time.sleep(poll)
    with claim:
        yield claim


def private_name(path: Path, suffix: str = "tmp") -> Path:
    """A sibling of ``path`` only this process writes: ``.<name>.<host>.<pid>.<suffix>``."""
    return path.with_name(f".{path.name}.{HOST}.{os.getpid()}.{suffix}")


def dead_writers_leftovers(path: Path, suffix: str = "tmp") -> list[Path]:
    """Private siblings of ``path`` left by writers that are provably dead (same host, pid gone);
    a live writer's file, or one from another host, is never listed."""
    out = []
    for p in path.parent.glob(f".{path.name}.*.{suffix}"):
        host, _, pid = p.name[len(path.name) + 2 : -len(suffix) - 1].rpartition(".")
        if pid.isdigit() and owner_dead(host, int(pid)):
            out.append(p)
    return out


def write_atomic(path: Path, write: Callable[[Path], object]) -> None:
    """Publish one file whole: ``write(tmp)`` fills a private sibling, then a rename puts it at
    ``path`` (readers never see half a file). Leftovers of dead writers are removed first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dead_writers_leftovers(path):
        leftover.unlink(missing_ok=True)
    tmp = private_name(path)
    write(tmp)
    os.replace(tmp, path)


def publish_folder(folder: Path, build: Callable[[Path], object]) -> None:
    """Publish one folder whole: ``build(tmp)`` fills a fresh private sibling, which then
    replaces ``folder`` by rename. Call under the folder's claim (:func:`exclusive`); a
    killed build leaves only a private folder, removed by the next publisher."""
    for leftover in dead_writers_leftovers(folder):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = private_name(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    build(tmp)
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def die_with_parent() -> None:
    """Worker initializer (Linux): SIGTERM this process when its parent dies, so a ``kill -9``
    of a sweep or of data generation never leaves orphaned workers holding memory."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
