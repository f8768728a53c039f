"""Downloads: a loopback HTTP server stands in for the real hosts; no test touches the network."""

from __future__ import annotations

import errno
import hashlib
import http.server
import io
import os
import pickle
import re
import socket
import sys
import tarfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pytest

from course_lib import config
from course_lib.data import online
from course_lib.data.online import entries, verify
from course_lib.errors import DownloadError, OfflineError, UnknownNameError


# ---------------------------------------------------------------------------------------------
# A tiny HTTP server with Range support
# ---------------------------------------------------------------------------------------------
@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    honour_range: bool = True
    stall_s: float = 0.0  # pause this long after sending half of the body
    requests: list[tuple[str, str | None, int, int]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)


def _handler(state: ServerState) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            body = state.files.get(self.path)
            header = self.headers.get("Range")
            if body is None:
                state.requests.append((self.path, header, 404, 0))
                self.send_error(404)
                return
            start, status = 0, 200
            if header and state.honour_range:
                match = re.fullmatch(r"bytes=(\d+)-", header)
                assert match, header
                start, status = int(match[1]), 206
                if start >= len(body):
                    state.requests.append((self.path, header, 416, 0))
                    self.send_error(416)
                    return
            payload = body[start:]
            self.send_response(status)
            self.send_header("Content-Length", str(len(payload)))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            self.end_headers()
            state.requests.append((self.path, header, status, len(payload)))
            try:
                if state.stall_s:
                    self.wfile.write(payload[: len(payload) // 2])
                    self.wfile.flush()
                    state.release.wait(state.stall_s)
                    return  # the client gave up; drop the connection
                self.wfile.write(payload)
            except OSError:
                pass

    return Handler


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every cache in tmp_path, nothing forced offline, no proxy for loopback."""
    for var, sub in (
        ("COURSE_CACHE_DIR", "cache"),
        ("TORCH_HOME", "torch"),
        ("KERAS_HOME", "keras"),
    ):
        monkeypatch.setenv(var, str(tmp_path / sub))
    if "keras" in sys.modules:  # keras read KERAS_HOME when imported: point it at tmp_path too
        from keras.src.backend import config as keras_config

        monkeypatch.setattr(keras_config, "_KERAS_DIR", str(tmp_path / "keras"))
    monkeypatch.delenv("COURSE_OFFLINE", raising=False)
    for var in ("no_proxy", "NO_PROXY"):
        monkeypatch.setenv(var, "127.0.0.1,localhost")
    return tmp_path


@pytest.fixture
def server(env: Path, monkeypatch: pytest.MonkeyPatch):
    """A loopback server; the online check is told we are online (the real hosts are not used)."""
    monkeypatch.setattr(config, "is_online", lambda *a, **k: True)
    state = ServerState()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"  # type: ignore[attr-defined]
    yield state
    state.release.set()
    httpd.shutdown()
    httpd.server_close()


def _serve(
    state: ServerState, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes, **overrides: object
) -> online.ManifestEntry:
    """Serve ``data`` and register a manifest entry ``name`` for it (checksums of ``data``)."""
    url_path = f"/files/{name}.bin"
    state.files[url_path] = data
    fields = dict(
        name=name,
        url=state.base + url_path,  # type: ignore[attr-defined]
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        target="datasets",
        description=f"test file {name}",
    )
    fields.update(overrides)
    e = online.ManifestEntry(**fields)  # type: ignore[arg-type]
    monkeypatch.setitem(entries._MANIFEST, name, e)
    return e


def _data(n: int = 200_000, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


# ---------------------------------------------------------------------------------------------
# Download, verification, resume
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("target", "where"),
    [
        ("datasets", "cache/datasets"),
        ("torch_hub", "torch/hub/checkpoints"),
        ("keras_models", "keras/models"),
    ],
)
def test_download_lands_verified_where_the_framework_looks(server, monkeypatch, env, target, where):
    data = _data()
    _serve(server, monkeypatch, "blob", data, target=target)
    assert not online.is_cached("blob")
    path = online.fetch("blob", progress=False)
    assert path == env / where / "blob.bin" == online.local_path("blob")
    assert path.read_bytes() == data
    assert not path.with_name("blob.bin.part").exists()
    assert online.is_cached("blob")
    assert server.requests == [("/files/blob.bin", None, 200, len(data))]
    assert online.fetch("blob", progress=False) == path  # cached: no second request
    assert len(server.requests) == 1


def test_progress_bar_runs(server, monkeypatch, capsys):
    data = _data(50_000)
    _serve(server, monkeypatch, "blob", data)
    assert online.fetch("blob", progress=True).read_bytes() == data
    assert "blob" in capsys.readouterr().err


def test_resume_requests_only_the_remainder(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    part = online.local_path("blob").with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:70_001])
    path = online.fetch("blob", progress=False)
    assert path.read_bytes() == data
    assert server.requests == [("/files/blob.bin", "bytes=70001-", 206, len(data) - 70_001)]
    assert not part.exists()


def test_server_ignoring_range_restarts_cleanly(server, monkeypatch):
    server.honour_range = False
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    part = online.local_path("blob").with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data[:70_001])
    assert online.fetch("blob", progress=False).read_bytes() == data  # not 70_001 bytes doubled
    assert server.requests == [("/files/blob.bin", "bytes=70001-", 200, len(data))]


def test_part_longer_than_the_file_416_restarts(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data, size=None)  # unknown size: the server decides
    part = online.local_path("blob").with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data + b"stale tail")
    assert online.fetch("blob", progress=False).read_bytes() == data
    assert [r[2] for r in server.requests] == [416, 200]


def test_complete_part_is_verified_without_a_request(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    part = online.local_path("blob").with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(data)
    assert online.fetch("blob", progress=False).read_bytes() == data
    assert server.requests == []


def test_wrong_checksum_raises_and_leaves_nothing(server, monkeypatch):
    data = _data()
    wrong = hashlib.sha256(b"something else").hexdigest()
    _serve(server, monkeypatch, "blob", data, sha256=wrong)
    with pytest.raises(DownloadError) as info:
        online.fetch("blob", progress=False)
    message = str(info.value)
    assert wrong in message and hashlib.sha256(data).hexdigest() in message
    path = online.local_path("blob")
    assert not path.exists() and not path.with_name("blob.bin.part").exists()
    assert not online.is_cached("blob")


def test_corrupt_part_is_caught_by_the_hash_and_deleted(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    part = online.local_path("blob").with_name("blob.bin.part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"\0" * 1000)  # right length would resume, wrong bytes
    with pytest.raises(DownloadError, match="sha256"):
        online.fetch("blob", progress=False)
    assert not part.exists() and not online.local_path("blob").exists()
    assert online.fetch("blob", progress=False).read_bytes() == data  # the retry starts over


def test_wrong_size_is_reported(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data, size=len(data) + 1)
    with pytest.raises(DownloadError, match="size"):
        online.fetch("blob", progress=False)


@pytest.mark.parametrize(
    ("checks", "corrupt"),
    [
        (("md5",), "md5"),
        (("sha256_prefix",), "sha256_prefix"),
        (("sha256", "md5", "sha256_prefix"), "md5"),
        (("sha256", "md5", "sha256_prefix"), "sha256"),
    ],
)
def test_md5_and_prefix_checks(server, monkeypatch, checks, corrupt):
    data = _data()
    sha = hashlib.sha256(data).hexdigest()
    real = {"md5": hashlib.md5(data).hexdigest(), "sha256": sha, "sha256_prefix": sha[:8]}
    good = {k: real[k] if k in checks else None for k in real}
    _serve(server, monkeypatch, "good", data, **good)
    assert online.fetch("good", progress=False).read_bytes() == data
    wrong = real[corrupt][:-1] + ("0" if real[corrupt][-1] != "0" else "1")
    bad = {**good, corrupt: wrong}
    if corrupt == "sha256":
        bad["sha256_prefix"] = wrong[:8]
    _serve(server, monkeypatch, "bad", data, **bad)
    with pytest.raises(DownloadError):
        online.fetch("bad", progress=False)
    assert not online.local_path("bad").exists()


def test_verification_is_remembered_until_the_file_changes(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    path = online.fetch("blob", progress=False)
    calls: list[Path] = []
    real_hash = verify._hash_file
    monkeypatch.setattr(verify, "_hash_file", lambda p, a: calls.append(p) or real_hash(p, a))
    assert online.is_cached("blob") and online.is_cached("blob")
    assert calls == []  # the stamp answered, the file was not read again
    path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # same size, different content
    assert not online.is_cached("blob")
    assert calls == [path]
    assert online.fetch("blob", progress=False).read_bytes() == data  # replaced by a good copy


def test_fetches_at_the_same_time_download_once(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(online.fetch("blob", progress=False)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(paths) == 3 and {p.read_bytes() for p in paths} == {data}
    assert len(server.requests) == 1  # one downloaded; the others waited for its lock
    downloads = config.cache_dir() / "downloads"
    assert not [p.name for p in downloads.iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_during_a_download_is_a_cache_error_and_keeps_the_part(server, monkeypatch):
    from course_lib.data.online import download
    from course_lib.errors import CacheError

    data = _data()
    _serve(server, monkeypatch, "blob", data)

    class FullDisk(io.FileIO):  # room for 50,000 bytes
        def write(self, chunk):
            if self.tell() + len(chunk) > 50_000:
                chunk = chunk[: 50_000 - self.tell()]
                super().write(chunk)
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return super().write(chunk)

    monkeypatch.setattr(download, "open", lambda p, mode: FullDisk(p, mode), raising=False)
    with pytest.raises(CacheError, match=r"blob\.bin\.part: the disk is full .*COURSE_CACHE_DIR"):
        online.fetch("blob", progress=False)
    part = online.local_path("blob").with_name("blob.bin.part")
    assert part.stat().st_size == 50_000  # kept: the next fetch resumes from it
    monkeypatch.delattr(download, "open")  # room again
    assert online.fetch("blob", progress=False).read_bytes() == data
    assert server.requests[-1][1] == "bytes=50000-"


def test_stalled_server_times_out_keeps_the_part_and_resumes(server, monkeypatch):
    data = _data()
    _serve(server, monkeypatch, "blob", data)
    server.stall_s = 5.0
    start = time.monotonic()
    with pytest.raises(OfflineError, match="resumes"):
        online.fetch("blob", progress=False, timeout=0.3)
    assert time.monotonic() - start < 3
    part = online.local_path("blob").with_name("blob.bin.part")
    kept = part.stat().st_size
    assert 0 < kept < len(data)
    server.stall_s = 0.0
    server.release.set()
    assert online.fetch("blob", progress=False).read_bytes() == data
    assert server.requests[-1] == ("/files/blob.bin", f"bytes={kept}-", 206, len(data) - kept)


def test_unreachable_server_is_an_offline_error_not_a_socket_traceback(env, monkeypatch):
    monkeypatch.setattr(config, "is_online", lambda *a, **k: True)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    e = online.ManifestEntry(
        "blob", f"http://127.0.0.1:{port}/blob.bin", "0" * 64, 10, "datasets", "unreachable"
    )
    monkeypatch.setitem(entries._MANIFEST, "blob", e)
    start = time.monotonic()
    with pytest.raises(OfflineError) as info:
        online.fetch("blob", progress=False)
    assert time.monotonic() - start < 5
    assert "course fetch blob" in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


def test_http_error_is_a_download_error(server, monkeypatch):
    e = _serve(server, monkeypatch, "blob", _data())
    monkeypatch.setitem(entries._MANIFEST, "blob", replace(e, url=e.url + ".missing"))
    with pytest.raises(DownloadError, match="404"):
        online.fetch("blob", progress=False)


def test_fetch_all(server, monkeypatch):
    a, b = _data(seed=1), _data(seed=2)
    _serve(server, monkeypatch, "a", a)
    _serve(server, monkeypatch, "b", b)
    paths = online.fetch_all(["a", "b"], progress=False)
    assert [p.read_bytes() for p in paths] == [a, b]


# ---------------------------------------------------------------------------------------------
# CIFAR-10: extraction and loading (a tiny archive in the official format)
# ---------------------------------------------------------------------------------------------
def _tar(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buf.getvalue()


def _fake_batch(n: int, seed: int) -> tuple[bytes, np.ndarray, list[int]]:
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
    labels = rng.integers(0, 10, n).tolist()
    batch = {b"batch_label": b"fake", b"data": data, b"labels": labels}
    return pickle.dumps(batch, protocol=2), data, labels


def test_cifar10_archive_is_unpacked_and_loaded(server, monkeypatch, env):
    members, train = {}, []
    for i in range(1, 6):
        blob, data, labels = _fake_batch(3, seed=i)
        members[f"cifar-10-batches-py/data_batch_{i}"] = blob
        train.append((data, labels))
    blob, _, test_labels = _fake_batch(2, seed=9)
    members["cifar-10-batches-py/test_batch"] = blob
    members["cifar-10-batches-py/batches.meta"] = pickle.dumps({b"label_names": []}, protocol=2)
    real = online.entry("cifar10")
    _serve(
        server,
        monkeypatch,
        "cifar10",
        _tar(members),
        target="datasets",
        extract=True,
        extracted=real.extracted,
        filename=real.file_name,
    )

    x, y = online.load_cifar10("train")
    assert x.shape == (15, 32, 32, 3) and x.dtype == np.uint8
    assert y.shape == (15,) and y.dtype == np.int64
    # channel-first rows of 3072 bytes -> (32, 32, 3) images
    assert np.array_equal(x[0, :, :, 1], train[0][0][0, 1024:2048].reshape(32, 32))
    assert y.tolist() == [label for _, labels in train for label in labels]
    xt, yt = online.load_cifar10("test")
    assert xt.shape == (2, 32, 32, 3) and yt.tolist() == test_labels
    root = online.cifar10_root()
    assert root == env / "cache" / "datasets"
    assert (root / "cifar-10-batches-py" / "data_batch_5").is_file()
    assert not list(root.glob(".cifar10-unpack-*"))
    assert online.is_cached("cifar10")
    assert len(server.requests) == 1
    with pytest.raises(ValueError, match="train"):
        online.load_cifar10("validation")


def test_deleted_extraction_is_redone_without_download(server, monkeypatch):
    blob, _, _ = _fake_batch(2, seed=0)
    _serve(
        server, monkeypatch, "arch", _tar({"d/batch": blob}), extract=True, extracted=("d/batch",)
    )
    path = online.fetch("arch", progress=False)
    (path.parent / "d" / "batch").unlink()
    assert not online.is_cached("arch")
    online.fetch("arch", progress=False)
    assert (path.parent / "d" / "batch").is_file()
    assert len(server.requests) == 1


def test_an_unpack_killed_half_way_is_cleaned_up_by_the_next_fetch(server, monkeypatch):
    blob, _, _ = _fake_batch(2, seed=0)
    _serve(
        server, monkeypatch, "arch", _tar({"d/batch": blob}), extract=True, extracted=("d/batch",)
    )
    datasets = online.local_path("arch").parent
    orphan = datasets / ".arch-unpack-k1ll3d"  # what a kill -9 during _unpack leaves
    (orphan / "d").mkdir(parents=True)
    (orphan / "d" / "batch").write_bytes(blob[:100])
    online.fetch("arch", progress=False)
    assert (datasets / "d" / "batch").read_bytes() == blob
    assert not list(datasets.glob(".arch-unpack-*"))


@pytest.mark.parametrize(
    "bad_name", ["../evil.txt", "/tmp/evil-course-test.txt", "d/../../evil.txt"]
)
def test_unsafe_tar_members_are_rejected(server, monkeypatch, env, bad_name):
    _serve(
        server,
        monkeypatch,
        "arch",
        _tar({"d/ok.txt": b"ok", bad_name: b"evil"}),
        extract=True,
        extracted=("d/ok.txt",),
    )
    with pytest.raises(DownloadError, match="outside"):
        online.fetch("arch", progress=False)
    datasets = online.local_path("arch").parent
    assert not (datasets.parent / "evil.txt").exists()
    assert not Path("/tmp/evil-course-test.txt").exists()
    assert not (datasets / "d").exists()
    assert not list(datasets.glob(".arch-unpack-*"))


def test_tar_links_are_rejected(server, monkeypatch):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        link = tarfile.TarInfo("d/link")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    _serve(server, monkeypatch, "arch", buf.getvalue(), extract=True, extracted=("d/link",))
    with pytest.raises(DownloadError, match="not a plain file"):
        online.fetch("arch", progress=False)


# ---------------------------------------------------------------------------------------------
# Offline: fast, clear, actionable
# ---------------------------------------------------------------------------------------------
def test_forced_offline_fails_fast_with_advice(env, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(OfflineError) as info:
        online.fetch("cifar10")
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert "course fetch cifar10" in message
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in message
    assert str(online.local_path("cifar10")) in message and "COURSE_MODE=teaching" in message
    with pytest.raises(OfflineError, match="course fetch cifar10"):
        online.load_cifar10()
    with pytest.raises(OfflineError):
        online.fetch_all()


def test_really_offline_fails_fast(env, monkeypatch):
    """Without COURSE_OFFLINE: this machine has no internet, so the probe must say so quickly."""
    monkeypatch.setattr(config, "_online_cache", {})
    start = time.monotonic()
    if config.is_online(refresh=True):
        pytest.skip("this machine is online; the test would start a real 100 MB download")
    with pytest.raises(OfflineError, match="course fetch resnet50_imagenet"):
        online.fetch("resnet50_imagenet")
    assert time.monotonic() - start < 5


def test_damaged_copy_offline_is_reported_not_deleted(env, monkeypatch):
    monkeypatch.setenv("COURSE_OFFLINE", "1")
    path = online.local_path("vgg16_imagenet_notop")
    path.parent.mkdir(parents=True)
    path.write_bytes(b"truncated")
    with pytest.raises(OfflineError, match="fails verification"):
        online.fetch("vgg16_imagenet_notop")
    assert path.exists()


# ---------------------------------------------------------------------------------------------
# Names, manifest, locations
# ---------------------------------------------------------------------------------------------
def test_unknown_name_lists_valid_names(env):
    for call in (
        online.entry,
        online.local_path,
        online.is_cached,
        online.fetch,
        lambda n: online.fetch_all([n]),
    ):
        with pytest.raises(UnknownNameError) as info:
            call("cifar100")
        assert all(
            n in str(info.value) for n in ("cifar10", "resnet50_imagenet", "vgg16_imagenet_notop")
        )


def test_manifest_holds_the_upstream_checksums():
    entries = {e.name: e for e in online.manifest()}
    assert set(entries) >= {"cifar10", "resnet50_imagenet", "vgg16_imagenet_notop"}
    assert len(entries) == len(online.manifest())
    # keras/src/datasets/cifar10.py and torchvision/datasets/cifar.py
    assert entries["cifar10"].sha256 == (
        "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
    )
    assert entries["cifar10"].md5 == "c58f30108f718f92721af3b95e74349a"
    # the prefix torch.hub checks is the one in the file name
    resnet = entries["resnet50_imagenet"]
    assert resnet.sha256_prefix == "0676ba61" and resnet.file_name == "resnet50-0676ba61.pth"
    # keras/src/applications/vgg16.py, WEIGHTS_PATH_NO_TOP
    assert entries["vgg16_imagenet_notop"].md5 == "6d6bbae143d832006294945121d1f1fc"
    for e in entries.values():
        assert e.url.startswith("https://") and e.size and e.source


@pytest.mark.parametrize(
    "bad",
    [
        dict(sha256=None),
        dict(sha256="ABC"),
        dict(md5="0" * 31),
        dict(target="desktop"),
        dict(sha256="1" * 64, sha256_prefix="2"),
    ],
)
def test_manifest_entries_are_validated(bad):
    fields = dict(
        name="x",
        url="https://example.org/x",
        sha256="0" * 64,
        size=1,
        target="datasets",
        description="x",
    )
    with pytest.raises(ValueError):
        online.ManifestEntry(**{**fields, **bad})  # type: ignore[arg-type]


def test_locations_follow_the_framework_rules(env, monkeypatch):
    assert online.local_path("resnet50_imagenet") == (
        env / "torch" / "hub" / "checkpoints" / "resnet50-0676ba61.pth"
    )
    assert online.local_path("vgg16_imagenet_notop").parent == env / "keras" / "models"
    assert online.local_path("cifar10") == env / "cache" / "datasets" / "cifar-10-python.tar.gz"
    if "torch" not in sys.modules:  # imported torch is asked directly instead
        monkeypatch.delenv("TORCH_HOME")
        monkeypatch.setenv("XDG_CACHE_HOME", str(env / "xdg"))
        assert online.local_path("resnet50_imagenet").parent == (
            env / "xdg" / "torch" / "hub" / "checkpoints"
        )
