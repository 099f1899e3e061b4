"""Uploaded files on the server: a private temporary folder per session, and what errors call a file.

Pure python (no streamlit). The loaders read files by path, so an upload is written to disk first;
the files of a data upload are removed as soon as they are loaded (the arrays live in the session),
and a session's folder (which keeps the bundles it opened, for Export) is removed when the session
disconnects (``cache.upload_folder``), when the server exits, or, if the server died, by the next
server that creates a folder once it is ``STALE_SECONDS`` old.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
import weakref
from pathlib import Path

UPLOAD_PREFIX = "sparker-upload-"  # session folders are tempdir/sparker-upload-*
STALE_SECONDS = 24 * 3600  # a session folder untouched this long belongs to a dead server


class UploadFolder:
    """A session's private folder; removed by ``remove()``, when collected, or at interpreter exit."""

    def __init__(self, path: str):
        self.path = path
        self._finalizer = weakref.finalize(self, shutil.rmtree, path, ignore_errors=True)

    def remove(self) -> None:
        self._finalizer()


SHOWN_COLUMNS = 8  # column names an error message lists before it gives the count


def new_folder(root: str | None = None) -> str:
    """A fresh session folder under ``root`` (the system temporary folder), after removing stale ones."""
    remove_stale(root)
    return tempfile.mkdtemp(prefix=UPLOAD_PREFIX, dir=root)


def remove_stale(root: str | None = None, max_age: float = STALE_SECONDS) -> list[str]:
    """Remove this user's session folders not modified for ``max_age`` seconds; returns their paths."""
    root = tempfile.gettempdir() if root is None else root
    cutoff, removed = time.time() - max_age, []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    for entry in entries:
        try:
            if (entry.name.startswith(UPLOAD_PREFIX) and entry.is_dir(follow_symlinks=False)
                    and entry.stat(follow_symlinks=False).st_uid == getattr(os, "getuid", lambda: 0)()
                    and _newest_mtime(entry.path) < cutoff):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.path)
        except OSError:  # vanished or unreadable meanwhile: not ours to judge
            continue
    return removed


def _newest_mtime(folder: str) -> float:
    newest = os.stat(folder, follow_symlinks=False).st_mtime
    for parent, dirs, files in os.walk(folder):
        for name in dirs + files:
            newest = max(newest, os.stat(os.path.join(parent, name), follow_symlinks=False).st_mtime)
    return newest


def display_name(upload_name: str) -> str:
    """The file name as the user uploaded it (never a server path)."""
    name = Path(upload_name).name
    return name if name not in ("", ".", "..") else "upload"


def save(upload, folder: Path, role: str) -> Path:
    """Write an uploaded file to ``folder/role/<its name>`` (two uploads may share a name)."""
    target = folder / role
    target.mkdir()
    path = target / display_name(upload.name)
    path.write_bytes(upload.getbuffer())
    return path


def as_uploaded(message: str, paths: dict[str, str], folder: Path) -> str:
    """A loader's message with every server path replaced by the file's uploaded name.

    ``paths`` maps a role ("reference", "data") to the saved file. One file split by a label
    column is called by its name, not "reference": "`both.csv` has no reference rows..."."""
    single = len(paths) == 1
    for role, path in paths.items():
        name = Path(path).name
        if single:
            message = message.replace(f"`{role}` ({path})", f"`{name}`")
            for side in ("reference", "data"):
                message = message.replace(f"`{side} rows` ({path})", f"`{name}` ({side} rows)")
        message = message.replace(path, name)
    message = message.replace(f"{folder}{os.sep}", "").replace(str(folder), "the upload")
    return short_column_list(message)


def short_column_list(message: str, limit: int = SHOWN_COLUMNS) -> str:
    """A message's closing "columns: a, b, ..." cut to its first ``limit`` names and the count: an
    embedding table has hundreds of columns, and the user needs only to see what is there."""
    head, sep, tail = message.rpartition("; columns: ")
    names = tail.rstrip(".").split(", ")
    if not sep or len(names) <= limit:
        return message
    return f"{head}{sep}{', '.join(names[:limit])}, ... ({len(names)} columns)."
