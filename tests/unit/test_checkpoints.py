import pytest

from course_lib.checkpoints import atomic_write, check_meta, unreadable
from course_lib.errors import CheckpointError


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
