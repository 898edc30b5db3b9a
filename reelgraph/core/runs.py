"""Run identity and the small records every stage of a run shares."""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path


def new_run_id(now: dt.datetime | None = None) -> str:
    """Sortable and unique: 20261126T190501Z-3fa2c1."""
    now = now or dt.datetime.now(dt.UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


# A run's status in ops.runs: published and held runs keep their marts rows (a held one is
# what the publish gate kept from being the latest); pruned ones do not.
KEPT_STATUSES = ("published", "held")
KEPT_SQL = "status IN ({})".format(", ".join(f"'{s}'" for s in KEPT_STATUSES))


def config_hash(*parts: object) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:12]


# ------------------------------------------------------------------ runs in progress
# A run holds an exclusive lock on <outputs>/runs/<run_id>/run.lock while it works; the file
# names its warehouse. Publishing removes the folders (and metrics rows) of runs that never
# published, but only those of its own warehouse whose lock nobody holds: a kill releases the
# lock, a run still working keeps it. The checkpoint folder takes the same lock, so two runs
# with the same settings never write one checkpoint at once.
RUN_LOCK = "run.lock"
FOLDER_LOCK = "folder.lock"
_HELD: dict[Path, int] = {}  # lock files this process holds -> their descriptors


def try_lock(lock_file: Path, note: str = "") -> bool:
    """Take the exclusive lock on lock_file for this process (True), or say another process
    holds it (False). Re-entrant within the process; released when the process ends."""
    key = lock_file.resolve()
    if key in _HELD:
        return True
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    if note:
        os.ftruncate(fd, 0)
        os.write(fd, note.encode())
    _HELD[key] = fd
    return True


def release(lock_file: Path) -> None:
    fd = _HELD.pop(lock_file.resolve(), None)
    if fd is not None:
        os.close(fd)  # closing the descriptor drops the lock


@contextlib.contextmanager
def in_progress(run_dir: str | Path, warehouse: str | Path) -> Iterator[None]:
    """Mark the run as working (see RUN_LOCK) for the duration of the block."""
    lock = Path(run_dir) / RUN_LOCK
    first = lock.resolve() not in _HELD
    if not try_lock(lock, str(Path(warehouse).resolve())):
        raise RuntimeError(f"{lock} is held by another process: run ids must be unique")
    try:
        yield
    finally:
        if first:
            release(lock)


@contextlib.contextmanager
def own_folder(folder: Path, private: Path) -> Iterator[Path]:
    """`folder`, locked for this process for the block; or `private` when another process
    holds it (two runs with the same settings never write one checkpoint at once)."""
    chosen = folder if try_lock(folder / FOLDER_LOCK) else private
    if chosen is private:
        try_lock(private / FOLDER_LOCK)
    try:
        yield chosen
    finally:
        release(chosen / FOLDER_LOCK)


def is_running(run_dir: Path) -> bool:
    """Does a live process (this one included) hold the run's lock?"""
    lock = run_dir / RUN_LOCK
    if not lock.is_file():
        return False
    if lock.resolve() in _HELD:
        return True
    if try_lock(lock):
        release(lock)
        return False
    return True


def run_warehouse(run_dir: Path) -> str | None:
    """The warehouse a run folder belongs to (None: written before runs were marked)."""
    try:
        return (run_dir / RUN_LOCK).read_text() or None
    except OSError:
        return None
