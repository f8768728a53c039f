"""The glyph-pretrained source network: built once, cached with its sha256, rebuilt when damaged."""

import json

import numpy as np
import pytest

from course_lib import pretrained
from course_lib.errors import ModeError


@pytest.fixture(params=["torch", "keras"])
def cl(request, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "pretrained_dir", lambda: tmp_path)
    if request.param == "torch":
        from course_lib import torch as module
    else:
        from course_lib import keras as module
    return module


def _outputs(cl, model):
    images = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    return cl.predict(model, images)


def test_built_once_then_loaded_from_the_cache(cl, capsys):
    model, info = cl.pretrained_cnn("smoke")
    assert info.built_now and info.path.exists()
    assert "Pretraining small_cnn" in capsys.readouterr().out
    record = json.loads(info.path.with_name(info.path.name + ".json").read_text())
    assert record["sha256"] == pretrained.file_sha256(info.path) == info.sha256
    assert record["num_classes"] == info.num_classes > 1000
    assert 0 <= record["source_val_accuracy"] <= 1 and record["train_s"] > 0

    again, cached = cl.pretrained_cnn("smoke", progress=False)
    assert not cached.built_now and cached.path == info.path
    np.testing.assert_allclose(_outputs(cl, again), _outputs(cl, model), rtol=1e-5, atol=1e-5)
    assert "loaded from the cache" in str(cached)
    assert cl.layer_names(again)[-1] == "head"
    _, forced = cl.pretrained_cnn("smoke", progress=False, rebuild=True)
    assert forced.built_now


def test_damaged_or_unrecorded_checkpoints_are_rebuilt(cl):
    _, info = cl.pretrained_cnn("smoke", progress=False)
    data = info.path.read_bytes()
    info.path.write_bytes(data[: len(data) // 2])
    with pytest.warns(UserWarning, match="damaged.*sha256"):
        _, rebuilt = cl.pretrained_cnn("smoke", progress=False)
    assert rebuilt.built_now and pretrained.file_sha256(rebuilt.path) == rebuilt.sha256
    rebuilt.path.with_name(rebuilt.path.name + ".json").unlink()  # a record never written
    _, again = cl.pretrained_cnn("smoke", progress=False)
    assert again.built_now


def test_the_cache_key_follows_the_spec():
    smoke, teaching = (
        pretrained.pretrain_spec("torch", "smoke"),
        pretrained.pretrain_spec("torch", "teaching"),
    )
    assert smoke.key != teaching.key
    assert pretrained.pretrain_spec("torch", "smoke", seed=1).key != smoke.key
    assert pretrained.pretrain_spec("keras", "smoke").key != smoke.key
    assert pretrained.pretrain_spec("torch", "smoke").key == smoke.key
    assert teaching.width == 32 and teaching.epochs >= 5
    with pytest.raises(ModeError):
        pretrained.pretrain_spec("torch", "fast")
    with pytest.raises(ValueError, match="torch, keras"):
        pretrained.pretrain_spec("jax", "smoke")


def test_source_data_uses_only_source_alphabets():
    from course_lib.data import glyph_split, load_glyphs

    spec = pretrained.pretrain_spec("torch", "smoke")
    data = pretrained.source_data(spec)
    glyphs = load_glyphs("smoke")
    split = glyph_split(glyphs, seed=pretrained.SPLIT_SEED)
    n_source = glyphs.select_groups(list(split.source)).num_classes
    assert data.num_classes == n_source < glyphs.num_classes
    assert set(np.unique(data.train[1])) == set(range(n_source))
    total = len(data.train[1]) + len(data.val[1])
    assert len(data.val[1]) == round(0.1 * total)


def test_course_pretrain_command(tmp_path, monkeypatch, capsys):
    from course_lib import cli

    monkeypatch.setattr(pretrained, "pretrained_dir", lambda: tmp_path)
    assert cli.main(["pretrain", "--mode", "smoke", "--framework", "torch"]) == 0
    out = capsys.readouterr().out
    assert "[OK] torch: small_cnn(width=32) pretrained on" in out
    assert list(tmp_path.glob("glyph_cnn_torch_smoke_*.pt"))
