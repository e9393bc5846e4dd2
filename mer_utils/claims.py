"""Atomic claims on work shared by processes, sweeps and cluster jobs (no scheduler of ours).

A claim is a small file created with ``O_CREAT | O_EXCL`` (atomic on local and NFS v3+ file
systems) holding host, pid and start time. While its owner works, a heartbeat thread touches it
every ``stale_s / 10`` seconds. A claim is **stale** when its owner is a dead process on this
host, or when it has not been touched for ``stale_s`` (an owner on another host that died):
then anyone may take it over. Taking over is atomic: the taker locks the stale file
(``fcntl.lockf``), checks that the path still names that file and that it is stale, and only
then renames it aside; an owner's release takes the same lock and removes only its own file.
So two takers never both hold a claim (``tests/test_claims.py`` races 8 processes over hundreds
of stale claims). Every claim a process holds is in a registry: a SIGTERM handler releases them
all (:func:`release_all`, :mod:`mer_utils.signals`). Used for fold units
(:mod:`mer_utils.sweep`), DI-store builds and synthetic-data generation (:func:`exclusive`,
which waits for the claim). A full disk in :func:`write_atomic` / :func:`publish_folder` raises
:class:`DiskFull`: one line naming the path and the space it needed, nothing half-published.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
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
    """A held claim: its file stays open and is touched by a heartbeat thread until
    :meth:`release`. Every held claim of the process is in a registry, so a SIGTERM handler can
    release them all (:func:`release_all`)."""

    def __init__(self, path: Path, fd: int, stale_s: float):
        self.path = path
        self._fd = fd
        self._stop = threading.Event()
        _HELD.add(self)  # before anything that can block (a thread's start waits on a lock)
        self._beat = threading.Thread(target=self._heartbeat, args=(stale_s / 10,), daemon=True)
        self._beat.start()

    def _heartbeat(self, every: float) -> None:
        while not self._stop.wait(every):
            with contextlib.suppress(OSError):
                os.utime(self._fd)  # our own file, even if it was renamed aside meanwhile

    def release(self) -> None:
        """Remove the claim file, if it is still ours (under its lock, so no taker can be
        moving it at the same time), and stop the heartbeat. Idempotent."""
        with _uninterrupted():
            if self not in _HELD:
                return
            _HELD.discard(self)
            self._stop.set()
            with contextlib.suppress(OSError):
                _lock(self._fd, blocking=True)
            mine = _same_file(self.path, self._fd)
            if mine:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
            os.close(self._fd)  # also drops the lock
        if not mine:
            log.warning("%s: our claim was taken over while held (no heartbeat?)", self.path)

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


_HELD: set[Claim] = set()  # the claims this process holds (what a SIGTERM handler releases)
_BUSY = [0]  # > 0 while this process creates or releases a claim
_AFTER: list[Callable[[], None]] = []  # signal handlers' actions deferred to the end of that


@contextlib.contextmanager
def _uninterrupted() -> Iterator[None]:
    """A claim being created or released: actions given to :func:`when_safe` (by a signal
    handler) run at the end of the block, never while a claim file and the registry differ."""
    _BUSY[0] += 1
    try:
        yield
    finally:
        _BUSY[0] -= 1
        while not _BUSY[0] and _AFTER:
            _AFTER.pop(0)()


def when_safe(action: Callable[[], None]) -> None:
    """Run ``action`` now or, if this process is creating or releasing a claim, right after
    (for a signal handler that releases every claim and exits: no claim file escapes it)."""
    if _BUSY[0]:
        _AFTER.append(action)
    else:
        action()


def release_all() -> list[Path]:
    """Release every claim this process holds; returns their paths (for a SIGTERM handler)."""
    held = list(_HELD)
    for claim in held:
        claim.release()
    return [c.path for c in held]


class DiskFull(OSError):
    """A write ran out of space (ENOSPC or EDQUOT); nothing was published, the partial file or
    folder is removed. The message is one line naming the path and the space it needed."""

    def __init__(self, path: Path | str, written: int, free: int):
        self.path, self.written, self.free = Path(path), int(written), int(free)
        super().__init__(errno.ENOSPC, str(self), str(path))

    def __str__(self) -> str:
        mb = lambda n: f"{n / 2**20:.1f} MB"  # noqa: E731
        return (
            f"disk full writing {self.path}: it needs more than the {mb(self.written)} written "
            f"before the disk filled ({mb(self.free)} free there); free space or point MER_ROOT "
            "at a larger disk, then rerun the same command"
        )

    def __reduce__(self):  # workers and SLURM jobs send it back pickled
        return (DiskFull, (self.path, self.written, self.free))


def _disk_full(e: OSError) -> bool:
    return e.errno in (errno.ENOSPC, errno.EDQUOT)


def _size(path: Path) -> int:
    """Bytes in a file or a folder tree (0 if gone)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _free(path: Path) -> int:
    for p in (path, *path.parents):
        with contextlib.suppress(OSError):
            return shutil.disk_usage(p).free
    return 0


def _lock(fd: int, blocking: bool) -> bool:
    """An exclusive POSIX lock on ``fd``'s file (held until ``fd`` is closed; NFS: lockd or
    v4); False when another process holds it (non-blocking). A file system without locks is
    warned about once and treated as locked."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            return False
        if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            raise
        _warn_no_locks(os.strerror(e.errno))
    return True


@functools.cache
def _warn_no_locks(why: str) -> None:
    log.warning("no file locks on this file system (%s): taking over stale claims is not atomic "
                "here; mount it with locking (NFS: lockd, or v4)", why)  # fmt: skip


def _same_file(path: Path, fd: int) -> bool:
    """True if ``path`` still names the file open as ``fd``."""
    try:
        st, own = path.stat(), os.fstat(fd)
    except FileNotFoundError:
        return False
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


def _stale(fd: int, stale_s: float) -> bool:
    """Staleness of the claim open as ``fd`` (see the module docstring)."""
    age = time.time() - os.fstat(fd).st_mtime
    try:
        info = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        info = {}
    if "pid" in info and owner_dead(info.get("host", ""), int(info["pid"])):
        return True
    return age > (stale_s if info else 5.0)  # empty: its creator died before writing


def is_stale(path: Path, stale_s: float = STALE_S) -> bool:
    """True if the claim at ``path`` may be taken over (see the module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        return _stale(fd, stale_s)
    finally:
        os.close(fd)


def try_claim(path: Path, stale_s: float = STALE_S) -> Claim | None:
    """Claim ``path`` atomically, taking over a stale claim; None if someone holds it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        if (claim := _create(path, stale_s)) is not None:
            return claim
        if not _take_over(path, stale_s):
            return None
    return None


def _create(path: Path, stale_s: float) -> Claim | None:
    """A new claim file (``O_CREAT | O_EXCL``: one creator wins), or None if one exists."""
    with _uninterrupted():
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o644)
        except FileExistsError:
            return None
        try:
            info = dict(host=HOST, pid=os.getpid(), started=time.time())
            os.write(fd, json.dumps(info).encode())
        except OSError as e:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise DiskFull(path, 0, _free(path.parent)) if _disk_full(e) else e from None
        return Claim(path, fd, stale_s)


def _take_over(path: Path, stale_s: float) -> bool:
    """Move a stale claim at ``path`` aside. Atomic: under an exclusive lock on that very file
    (other takers and its owner's release take the same lock), and only if ``path`` still
    names the file found stale. True: ``path`` may now be free (try to create it again);
    False: it is held (live, or another taker is at it)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return True  # released meanwhile
    try:
        if not _lock(fd, blocking=False):
            return False
        if not _same_file(path, fd):
            return True  # replaced meanwhile: look again
        if not _stale(fd, stale_s):
            return False
        aside = path.with_name(f"{path.name}.stale-{uuid.uuid4().hex[:8]}")
        os.rename(path, aside)
        aside.unlink()
        log.warning("%s: stale claim taken over (its owner is gone)", path)
        return True
    finally:
        os.close(fd)


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
    ``path`` (readers never see half a file). Leftovers of dead writers are removed first. A
    full disk raises :class:`DiskFull` and leaves nothing behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for leftover in dead_writers_leftovers(path):
        leftover.unlink(missing_ok=True)
    tmp = private_name(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as e:
        if not _disk_full(e):
            raise
        written = _size(tmp) if tmp.exists() else 0
        tmp.unlink(missing_ok=True)
        raise DiskFull(path, written, _free(path.parent)) from None


def publish_folder(folder: Path, build: Callable[[Path], object]) -> None:
    """Publish one folder whole: ``build(tmp)`` fills a fresh private sibling, which then
    replaces ``folder`` by rename. Call under the folder's claim (:func:`exclusive`); a
    killed build leaves only a private folder, removed by the next publisher. A full disk
    raises :class:`DiskFull` and removes the partial build."""
    for leftover in dead_writers_leftovers(folder):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = private_name(folder)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        build(tmp)
    except OSError as e:
        if not _disk_full(e):
            raise
        written = _size(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        raise DiskFull(folder, written, _free(folder.parent)) from None
    shutil.rmtree(folder, ignore_errors=True)
    tmp.rename(folder)


def die_with_parent() -> None:
    """Worker initializer (Linux): SIGTERM this process when its parent dies, so a ``kill -9``
    of a sweep or of data generation never leaves orphaned workers holding memory. SIGTERM's
    default action is restored first: a forked worker inherits its parent's handler (the
    sweep's raises KeyboardInterrupt, which a pool worker catches and carries on)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(1)
