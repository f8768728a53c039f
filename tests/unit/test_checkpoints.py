import errno
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_lib import atomic
from course_lib.checkpoints import atomic_write, check_meta, unreadable
from course_lib.errors import CacheError, CheckpointError


def test_check_meta_accepts_json_like_values_only():
    check_meta({"epochs": 3, "acc": 0.5, "tags": ["a", None], "ok": True})
    with pytest.raises(ValueError, match="non-string key"):
        check_meta({1: "x"})
    with pytest.raises(ValueError, match=r"convert it first"):
        check_meta({"when": object()})


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "sub" / "ckpt.bin"
    atomic_write(path, lambda f: f.write(b"old"))

    def broken(f):
        f.write(b"partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(path, broken)
    assert path.read_bytes() == b"old"
    assert [p.name for p in path.parent.iterdir()] == ["ckpt.bin"]


def test_unreadable_says_what_to_do(tmp_path):
    err = unreadable(tmp_path / "x.pt", "EOFError")
    assert isinstance(err, CheckpointError) and "re-create it with save_checkpoint" in str(err)


# ---------------------------------------------------------------------------------------------
# Orphan temps: removed when their writer is gone, never while it writes
# ---------------------------------------------------------------------------------------------
def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _temp(folder, target, random, *, pid=None, machine=None, age_s=0.0):
    """A temp as atomic_write names it (``pid=None``: as older versions named it)."""
    writer = "" if pid is None else f"{pid}@{machine or atomic._machine()}."
    path = folder / f".{target}.{writer}{random}.tmp"
    path.write_bytes(b"\0" * 10)
    if age_s:
        then = time.time() - age_s
        os.utime(path, (then, then))
    return path.name


def test_a_write_removes_the_temps_of_dead_writers_and_keeps_live_ones(tmp_path):
    old = atomic.STALE_AFTER_S + 60
    removed = {
        _temp(tmp_path, "m.pt", "dead0000", pid=_dead_pid()),
        _temp(tmp_path, "m.pt", "elsewold", pid=1, machine="0000000f", age_s=old),
        _temp(tmp_path, "m.pt", "olderold", age_s=old),
    }
    kept = {
        _temp(tmp_path, "m.pt", "alive000", pid=os.getpid(), age_s=old),  # slow but running
        _temp(tmp_path, "m.pt", "elsewher", pid=1, machine="0000000f"),  # fresh, other machine
        _temp(tmp_path, "m.pt", "olderfmt"),  # fresh, writer not recorded
        _temp(tmp_path, "m.pt.json", "otherfil", pid=_dead_pid()),  # another target's
        "m.pt.part",  # a resumable download
    }
    (tmp_path / "m.pt.part").write_bytes(b"part")
    atomic_write(tmp_path / "m.pt", lambda f: f.write(b"new"))
    left = {p.name for p in tmp_path.iterdir()}
    assert left == kept | {"m.pt"} and not removed & left
    assert atomic.remove_orphans_once(tmp_path) == 10  # the sweep: every target's temps
    assert ".m.pt.json" not in " ".join(p.name for p in tmp_path.iterdir())
    _temp(tmp_path, "n.pt", "dead0000", pid=_dead_pid())
    assert atomic.remove_orphans_once(tmp_path) == 0  # once per folder and process


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_writer_that_exited_but_was_not_collected_counts_as_gone():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        for _ in range(500):  # until it has exited (a zombie: os.kill still finds it)
            if atomic._zombie(proc.pid):
                break
            time.sleep(0.01)
        assert atomic._zombie(proc.pid) and not atomic._running(proc.pid)
    finally:
        proc.wait()
    assert atomic._running(os.getpid())


# ---------------------------------------------------------------------------------------------
# Disk full, read-only folder: one CacheError with the fix, the same in both frameworks
# ---------------------------------------------------------------------------------------------
class _FullDisk:
    """The temp file on a disk that is full after ``room`` bytes."""

    def __init__(self, file, room):
        self._file, self.room = file, room

    def write(self, data):
        if self._file.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return self._file.write(data)

    def __getattr__(self, name):
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def _expected(path, problem, fix):
    return re.compile(
        rf"^Cannot write {re.escape(str(path))}: {problem}( after writing [\d,.]+ (bytes|KB))?\. "
        rf"Its folder has [\d,.]+ (bytes|KB|MB|GB) free\. {fix}, or set COURSE_CACHE_DIR "
        r"\(datasets, pretrained networks, downloads\) or COURSE_BUILD_DIR \(results, figures\) "
        r"to a folder with room and write permission, then run it again\.$"
    )


def test_a_full_disk_is_one_cache_error_in_both_frameworks(cl, tmp_path, monkeypatch):
    model = cl.small_cnn(3, width=4)
    monkeypatch.setattr(atomic, "_open_temp", lambda fd: _FullDisk(os.fdopen(fd, "wb"), 2000))
    path = tmp_path / "model.ckpt"
    with pytest.raises(CacheError) as info:  # torch.save turns it into an inline_container error
        cl.save_checkpoint(model, path)
    problem = r"the disk is full \(ENOSPC: No space left on device\)"
    assert _expected(path, problem, "Free some space there").match(str(info.value)), info.value
    assert list(tmp_path.iterdir()) == []


def test_pytorch_writer_failures_are_a_cache_error(tmp_path, monkeypatch):
    import torch

    from course_lib import torch as cl

    def failing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04")
        raise RuntimeError(
            "[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing "
            "file data/0: file write failed"
        )

    monkeypatch.setattr(torch, "save", failing_save)
    path = tmp_path / "model.pt"
    with pytest.raises(CacheError) as info:
        cl.save_checkpoint(cl.small_cnn(3, width=4), path)
    problem = (
        r"the file system refused the write \(usually a full disk\) \(RuntimeError: "
        r"\[enforce fail at inline_container\.cc:626\] [^)]*\)"
    )
    assert _expected(path, problem, "Free some space there").match(str(info.value)), info.value
    assert list(tmp_path.iterdir()) == []


def test_a_read_only_file_system_is_a_cache_error(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / ".x.tmp"))

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    path = tmp_path / "results.json"
    with pytest.raises(CacheError) as info:
        atomic.atomic_write_text(path, "{}")
    problem = r"the file system is read-only \(EROFS: Read-only file system\)"
    assert _expected(path, problem, "Use a writable file system").match(str(info.value))


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_a_folder_without_write_permission_is_a_cache_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(CacheError) as info:
            atomic_write(folder / "x.bin", lambda f: f.write(b"x"))
    finally:
        folder.chmod(0o755)
    problem = r"there is no permission to write there \(EACCES: Permission denied\)"
    fix = "Give yourself write permission there"
    assert _expected(folder / "x.bin", problem, fix).match(str(info.value))
