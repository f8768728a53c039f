"""course_lib.data.fashion_mnist: the real Fashion-MNIST from local files, cached; fails fast.

The files come from Debian's ``dataset-fashion-mnist`` (CI installs it, see .ci/run). Elsewhere,
extract the package without installing it and point the loader at it:
``apt-get download dataset-fashion-mnist && dpkg-deb -x dataset-fashion-mnist_*.deb root`` and
``COURSE_FASHION_MNIST_DIR=root/usr/share/datasets/fashion-mnist``.
"""

import gzip
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from course_lib import data
from course_lib.data import fashion_mnist as fm
from course_lib.data.episodes import few_shot_split
from course_lib.errors import ArgumentError, DownloadError, OfflineError


def _files_dir() -> Path | None:
    for folder in fm.search_dirs():
        if (folder / "t10k-images-idx3-ubyte.gz").is_file():
            return folder
    return None


@pytest.fixture
def files(monkeypatch, tmp_path):
    """The folder with the real files, a fresh cache; skipped (failed under CI) without them."""
    folder = _files_dir()
    if folder is None:
        message = f"Fashion-MNIST files not found in {fm.search_dirs()}: see the module docstring"
        if os.environ.get("CI"):
            pytest.fail(message + " (.ci/run installs dataset-fashion-mnist)")
        pytest.skip(message)
    monkeypatch.setenv(fm.DIR_ENV, str(folder))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    return folder


def test_both_splits_are_the_real_balanced_dataset(files):
    train, test = fm.load_fashion_mnist("train"), data.load_dataset("fashion_mnist", split="test")
    assert (len(train), len(test)) == (60_000, 10_000)
    for split, per_class in ((train, 6_000), (test, 1_000)):
        assert split.images.shape[1:] == (28, 28) and split.images.dtype == np.float32
        assert split.images.min() == 0.0 and split.images.max() == 1.0
        assert split.labels.dtype == np.int64
        assert np.bincount(split.labels).tolist() == [per_class] * 10
        assert split.class_names == fm.CLASS_NAMES and split.class_names[9] == "Ankle boot"
    # Light on dark, kept as it is (ink = 1): the corners are black background (0.008 on
    # average), the middle is garment (0.57).
    corners = test.images[:, [0, 1, 2, -3, -2, -1]][:, :, [0, 1, 2, -3, -2, -1]]
    assert corners.mean() < 0.05 and test.images[:, 10:18, 10:18].mean() > 0.4


def test_second_load_comes_from_the_cache(files, monkeypatch, tmp_path):
    first = fm.load_fashion_mnist("test")
    monkeypatch.setenv(fm.DIR_ENV, str(tmp_path / "gone"))  # the files are no longer needed
    start = time.perf_counter()
    again = fm.load_fashion_mnist("test")
    assert time.perf_counter() - start < 2
    assert np.array_equal(first.images, again.images) and np.array_equal(first.labels, again.labels)


def test_works_with_the_few_shot_split(files):
    train, test = few_shot_split(fm.load_fashion_mnist("test"), 5, n_way=3, seed=1)
    assert len(train) == 15 and np.bincount(train.labels).tolist() == [5, 5, 5]
    assert len(test) == 3 * 1_000 - 15


def test_missing_files_fail_within_seconds_naming_the_fixes(monkeypatch, tmp_path):
    monkeypatch.setenv(fm.DIR_ENV, str(tmp_path / "empty"))
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))
    start = time.perf_counter()
    with pytest.raises(OfflineError) as err:
        fm.load_fashion_mnist("test")
    assert time.perf_counter() - start < 5
    message = str(err.value)
    assert "sudo apt-get install dataset-fashion-mnist" in message
    assert "keras.datasets.fashion_mnist.load_data()" in message
    assert "torchvision.datasets.FashionMNIST" in message and fm.DIR_ENV in message
    assert str(tmp_path / "empty") in message


def test_a_damaged_file_is_rejected_by_its_digest(files, monkeypatch, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in fm.SPLITS["test"]:
        shutil.copy(files / f"{name}.gz", copy)
    labels = copy / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10  # one label changed
    labels.write_bytes(gzip.compress(bytes(raw)))
    monkeypatch.setenv(fm.DIR_ENV, str(copy))
    with pytest.raises(DownloadError, match=r"t10k-labels-idx1-ubyte.*sha256.*Reinstall"):
        fm.load_fashion_mnist("test")


def test_uncompressed_files_are_found_too(files, monkeypatch, tmp_path):
    """torchvision's ``raw`` folder holds the files uncompressed as well."""
    for name in fm.SPLITS["test"]:
        (tmp_path / name).write_bytes(gzip.decompress((files / f"{name}.gz").read_bytes()))
    monkeypatch.setenv(fm.DIR_ENV, str(tmp_path))
    assert len(fm.load_fashion_mnist("test")) == 10_000


@pytest.mark.parametrize("bad", ["validation", "TEST", None, 1])
def test_bad_split(bad):
    with pytest.raises(ArgumentError, match="'train' or 'test'"):
        fm.load_fashion_mnist(bad)
