"""Consistent copies of the SQLite database while the server keeps using it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import urlsplit


def sqlite_path_from_url(db_url: str) -> Path | None:
    """The database file behind a `sqlite://` URL, read the way Tortoise reads it.

    `sqlite://lianxin.sqlite3` is relative to the working directory and
    `sqlite:///srv/lianxin.sqlite3` is absolute; anything after `?` is connection options.
    Non-SQLite URLs and in-memory databases give None: there is no file to copy.
    """
    parts = urlsplit(db_url)
    if parts.scheme != "sqlite":
        return None
    # Tortoise joins netloc and path, so "sqlite://data/x.sqlite3" is the relative data/x.sqlite3.
    raw = parts.netloc + parts.path
    if not raw or raw == ":memory:":
        return None
    return Path(raw)


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return os.path.samefile(a, b)  # hard links and other aliases
    except OSError:
        return False


def _copy(db_path: Path, tmp: Path) -> None:
    # Read-only: a wrong path must fail, not create an empty database to back up.
    source = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
    try:
        target = sqlite3.connect(tmp)
        try:
            # One step, one read transaction: a snapshot even while the server writes. In WAL
            # mode (Tortoise's default) that read does not block writers; copying in small
            # steps instead would restart from scratch after every write to a busy database.
            source.backup(target)
        finally:
            target.close()
    finally:
        source.close()
    # The copy must be on disk before it replaces an older backup under the same name.
    with tmp.open("rb+") as handle:
        os.fsync(handle.fileno())


def _backup(db_path: Path, out: Path) -> None:
    if not db_path.is_file():
        raise FileNotFoundError(f"no SQLite database at {db_path}")
    if _same_file(db_path, out):
        raise ValueError(f"refusing to overwrite the database itself with its backup: {out}")
    # Beside `out` so os.replace is an atomic rename; mkstemp's 0600 mode because the copy
    # holds the same personal data as the database.
    fd, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(name)
    try:
        _copy(db_path, tmp)
        os.replace(tmp, out)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


async def backup_sqlite(db_path: Path, out: Path) -> None:
    """Copy the database at `db_path` to `out`, replacing `out` only once the copy is whole."""
    await asyncio.to_thread(_backup, db_path, out)
