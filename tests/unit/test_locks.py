"""Inter-process locks: one holder at a time, re-entrant in its thread, released when it dies."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from course_lib import locks
from course_lib.errors import CacheError

ROOT = Path(__file__).resolve().parents[2]

_HOLDER = """
import sys, time
from course_lib.locks import exclusive
with exclusive(sys.argv[1]):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_the_lock_file_sits_next_to_its_target(tmp_path):
    assert locks.lock_path(tmp_path / "a.npz") == tmp_path / ".a.npz.lock"


def test_the_holding_thread_may_take_it_again(tmp_path):
    target = tmp_path / "entry"
    with locks.exclusive(target), locks.exclusive(target, timeout=1):
        pass  # a second FileLock object on the same path would block its own thread here
    with locks.exclusive(target, timeout=0):
        pass  # and it is free again afterwards


def test_another_thread_waits_and_a_timeout_says_why(tmp_path, capsys):
    target = tmp_path / "entry"
    errors = []

    def other():
        try:
            with locks.exclusive(target, what="the toy dataset", timeout=0.2):
                errors.append(None)
        except CacheError as err:
            errors.append(err)

    with locks.exclusive(target):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert isinstance(errors[0], CacheError)
    assert "Gave up after 0.2 s" in str(errors[0]) and ".entry.lock" in str(errors[0])
    assert "building the toy dataset" in capsys.readouterr().err


def test_a_quiet_lock_waits_without_a_word(tmp_path, capsys):
    target = tmp_path / "runs.json"
    outcome = []

    def other():
        try:
            with locks.exclusive(target, what="the run records", timeout=0.2, quiet=True):
                outcome.append("got it")
        except CacheError as err:
            outcome.append(err)

    with locks.exclusive(target):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert isinstance(outcome[0], CacheError)  # it did wait (and gave up), in silence
    assert capsys.readouterr().err == ""


def test_a_killed_holder_releases_the_lock(tmp_path, capsys):
    target = tmp_path / "entry"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(target)], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        busy = pytest.raises(CacheError, match="another process is still building")
        with busy, locks.exclusive(target, timeout=0.2):
            pass
        os.kill(holder.pid, signal.SIGKILL)
        start = time.perf_counter()
        with locks.exclusive(target, timeout=10):
            waited = time.perf_counter() - start
    finally:
        holder.kill()
        holder.wait()
    assert waited < 5
    assert "Waiting for another process" in capsys.readouterr().err


def test_build_once_builds_only_what_it_cannot_load(tmp_path):
    target = tmp_path / "entry.txt"
    builds = []

    def load():
        return target.read_text() if target.exists() else None

    def build():
        builds.append(1)
        target.write_text("built")
        return "built"

    assert locks.build_once(target, load, build) == "built"
    assert locks.build_once(target, load, build) == "built"
    assert builds == [1]


def test_an_unusable_folder_is_a_cache_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    unusable = pytest.raises(CacheError, match=r"Cannot create the lock file .*COURSE_CACHE_DIR")
    with unusable, locks.exclusive(blocker / "entry"):
        pass
