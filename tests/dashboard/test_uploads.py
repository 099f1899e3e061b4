"""Uploaded files on the server: session folders are removed, errors name files as uploaded."""

from __future__ import annotations

import gc
import os
import time
from pathlib import Path

from dashboard import uploads


def test_an_upload_folder_is_removed_when_released_or_collected(tmp_path):
    kept, dropped = tmp_path / "a", tmp_path / "b"
    for folder in (kept, dropped):
        (folder / "bundle-1").mkdir(parents=True)
        (folder / "bundle-1" / "null.npy").write_bytes(b"x")
    released = uploads.UploadFolder(str(kept))
    released.remove()
    assert not kept.exists()
    uploads.UploadFolder(str(dropped))  # dropped at once: the finalizer removes the folder
    gc.collect()
    assert not dropped.exists()


def test_stale_session_folders_of_a_dead_server_are_removed(tmp_path):
    old, fresh = (tmp_path / f"{uploads.UPLOAD_PREFIX}{name}" for name in ("old", "fresh"))
    for folder in (old, fresh):
        (folder / "upload-1").mkdir(parents=True)
        (folder / "upload-1" / "ref.npy").write_bytes(b"x")
    other = tmp_path / "not-ours"
    other.mkdir()
    two_days_ago = time.time() - 2 * 24 * 3600
    for path in (old / "upload-1" / "ref.npy", old / "upload-1", old, other):
        os.utime(path, (two_days_ago, two_days_ago))
    new = uploads.new_folder(str(tmp_path))
    assert not old.exists() and fresh.exists() and other.exists()
    assert Path(new).is_dir() and Path(new).name.startswith(uploads.UPLOAD_PREFIX)
    os.utime(fresh, (two_days_ago, two_days_ago))  # an old folder with a recent file is still in use
    assert uploads.remove_stale(str(tmp_path)) == [] and fresh.exists()


def test_errors_name_the_file_as_uploaded(tmp_path):
    folder = tmp_path / "sparker-upload-abc" / "upload-def"
    ref, data = f"{folder}/reference/ref.npy", f"{folder}/data/data.npy"
    two = {"reference": ref, "data": data}
    message = f"`data` ({data}) and `reference` ({ref}) must have the same number of features; got 3 and 4."
    assert uploads.as_uploaded(message, two, folder) == \
        "`data` (data.npy) and `reference` (ref.npy) must have the same number of features; got 3 and 4."
    one = {"reference": f"{folder}/reference/both.csv"}
    assert uploads.as_uploaded(f"`reference` ({one['reference']}) has no reference rows: ...", one, folder) == \
        "`both.csv` has no reference rows: ..."
    assert uploads.as_uploaded(f"`data rows` ({one['reference']}) contains NaN or infinite values (2 entries).", one,
                               folder) == "`both.csv` (data rows) contains NaN or infinite values (2 entries)."
    assert uploads.display_name("../../etc/passwd") == "passwd" and uploads.display_name("..") == "upload"
