"""course_lib.keras.models: block names, parameter counts, freezing and checkpoints (Keras 3)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from course_lib import keras as cl
from course_lib.errors import CheckpointError, UnknownNameError

CNN_BLOCKS = ["block1", "block2", "block3", "block4", "head"]


def _rows(summary: str) -> dict[str, tuple[int, int]]:
    """{name: (params, trainable)} parsed from a trainable_summary table."""
    rows = {}
    for line in summary.splitlines():
        parts = line.split()
        if parts and parts[0] in {*CNN_BLOCKS, "layer1", "layer2", "total"}:
            if parts[0] == "total":
                rows["total"] = (int(parts[1].replace(",", "")), int(parts[2].replace(",", "")))
            else:
                rows[parts[0]] = (int(parts[-3].replace(",", "")), int(parts[-2].replace(",", "")))
    return rows


def _values(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def _batch(n: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 28, 28, 1)).astype("float32"), rng.integers(0, 10, size=n)


def test_small_cnn_block_names_and_output_shape():
    model = cl.small_cnn(10, width=4)
    assert cl.layer_names(model) == CNN_BLOCKS
    x, _ = _batch()
    assert tuple(model(x).shape) == (4, 10)
    # Global pooling: other sizes and channel counts work too.
    rgb = cl.small_cnn(3, width=4, in_channels=3)
    assert tuple(rgb(np.zeros((2, 32, 40, 3), "float32")).shape) == (2, 3)


def test_mlp_layer_names_and_output_shape():
    model = cl.mlp(in_features=2, hidden=(5, 7), out_features=3)
    assert cl.layer_names(model) == ["layer1", "layer2", "head"]
    assert tuple(model(np.zeros((6, 2), "float32")).shape) == (6, 3)
    rows = _rows(cl.trainable_summary(model))
    assert rows["layer1"] == (2 * 5 + 5, 15)
    assert rows["layer2"] == (5 * 7 + 7, 42)
    assert rows["head"] == (7 * 3 + 3, 24)
    assert "dense" in cl.trainable_summary(model)


@pytest.mark.parametrize(
    "call",
    [
        lambda: cl.small_cnn(0),
        lambda: cl.small_cnn(10, width=-1),
        lambda: cl.small_cnn(10, in_channels=1.5),
        lambda: cl.mlp(hidden=(40, 0)),
        lambda: cl.mlp(hidden=40),
    ],
)
def test_bad_arguments_raise_value_error(call):
    with pytest.raises(ValueError, match="must be"):
        call()


def test_param_counts_match_hand_arithmetic_and_pytorch():
    model = cl.small_cnn(10, width=32)
    rows = _rows(cl.trainable_summary(model))
    # Conv kernels are 3*3*c_in*c_out (no bias); BatchNorm learns gamma and beta (2*c_out);
    # its moving mean/variance are state, not parameters (buffers in PyTorch), so not counted.
    expected = {
        "block1": 3 * 3 * 1 * 32 + 2 * 32,  # 352
        "block2": 3 * 3 * 32 * 64 + 2 * 64,  # 18,560
        "block3": 3 * 3 * 64 * 64 + 2 * 64,  # 36,992
        "block4": 3 * 3 * 64 * 128 + 2 * 128,  # 73,984
        "head": 128 * 10 + 10,  # 1,290 (Dense after global average pooling)
    }
    assert {name: rows[name] for name in CNN_BLOCKS} == {k: (v, v) for k, v in expected.items()}
    assert rows["total"] == (131_178, 131_178)
    # Keras itself also counts the 2*(32+64+64+128) = 576 moving statistics.
    assert model.count_params() == 131_178 + 576


def test_freeze_up_to_and_unfreeze():
    model = cl.small_cnn(10, width=4)
    cl.freeze(model, up_to="block2")
    assert [model.get_layer(n).trainable for n in CNN_BLOCKS] == [False, False, True, True, True]
    summary = cl.trainable_summary(model)
    rows = _rows(summary)
    assert rows["block1"][1] == 0 and rows["block2"][1] == 0
    assert rows["block3"][0] == rows["block3"][1] > 0
    assert "frozen" in summary.split("block1", 1)[1].splitlines()[0]

    cl.unfreeze(model, "block2")
    assert [model.get_layer(n).trainable for n in CNN_BLOCKS] == [False, True, True, True, True]
    cl.freeze(model)
    assert not any(model.get_layer(n).trainable for n in CNN_BLOCKS)
    cl.unfreeze(model, ["head", "block1"])
    assert [model.get_layer(n).trainable for n in CNN_BLOCKS] == [True, False, False, False, True]
    cl.unfreeze(model)
    assert all(model.get_layer(n).trainable for n in CNN_BLOCKS)
    assert "(0 frozen)" in cl.trainable_summary(model)


def test_frozen_blocks_do_not_change_during_training():
    model = cl.small_cnn(10, width=4)
    cl.freeze(model, up_to="block2")
    model.compile(  # Keras reads `trainable` at compile time
        optimizer=keras.optimizers.SGD(learning_rate=0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    frozen = [*model.get_layer("block1").weights, *model.get_layer("block2").weights]
    head = model.get_layer("head").weights
    before_frozen, before_head = _values(frozen), _values(head)
    model.train_on_batch(*_batch())
    # Frozen weights, BatchNorm moving statistics included, are untouched; the head learned.
    for old, new in zip(before_frozen, _values(frozen), strict=True):
        np.testing.assert_array_equal(old, new)
    assert any(not np.array_equal(o, n) for o, n in zip(before_head, _values(head), strict=True))


def test_unknown_names_list_the_valid_ones():
    model = cl.small_cnn(10, width=4)
    with pytest.raises(UnknownNameError) as info:
        cl.freeze(model, up_to="blok2")
    assert str(info.value) == (
        "Unknown layer 'blok2'; valid layers: block1, block2, block3, block4, head."
    )
    with pytest.raises(UnknownNameError, match="valid layers: block1, block2"):
        cl.unfreeze(model, ["head", "nope"])
    assert all(model.get_layer(n).trainable for n in CNN_BLOCKS)  # nothing changed


def _trained_model(width: int = 4) -> keras.Model:
    """A model whose weights and BatchNorm statistics differ from a fresh one's."""
    model = cl.small_cnn(10, width=width)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(True))
    model.train_on_batch(*_batch(seed=1))
    return model


def test_checkpoint_round_trip(tmp_path):
    source = _trained_model()
    path = cl.save_checkpoint(source, tmp_path / "cnn.ckpt", epoch=3, acc=0.5, tags=["a", None])
    assert path == tmp_path / "cnn.ckpt" and path.is_file()
    assert [p.name for p in tmp_path.iterdir()] == ["cnn.ckpt"]  # no temp file left behind

    target = cl.small_cnn(10, width=4)
    assert not all(
        np.array_equal(a, b)
        for a, b in zip(_values(source.weights), _values(target.weights), strict=True)
    )
    meta = cl.load_checkpoint(target, path)
    assert meta == {"epoch": 3, "acc": 0.5, "tags": ["a", None]}
    names = [v.path.split("/", 1)[1] for v in target.weights]
    assert "block1/bn/moving_mean" in names and "block4/bn/moving_variance" in names
    for a, b in zip(_values(source.weights), _values(target.weights), strict=True):
        np.testing.assert_array_equal(a, b)
    x, _ = _batch()
    np.testing.assert_allclose(source(x), target(x), rtol=1e-6, atol=1e-6)


def test_checkpoint_overwrites_atomically(tmp_path):
    model = cl.small_cnn(10, width=4)
    path = tmp_path / "sub" / "cnn.ckpt"
    cl.save_checkpoint(model, path, epoch=1)
    cl.save_checkpoint(model, path, epoch=2)
    assert cl.load_checkpoint(model, path) == {"epoch": 2}
    assert [p.name for p in path.parent.iterdir()] == ["cnn.ckpt"]


def test_meta_must_be_json_like(tmp_path):
    model = cl.mlp()
    with pytest.raises(ValueError, match="meta"):
        cl.save_checkpoint(model, tmp_path / "m.ckpt", loss=np.float32(0.1))
    assert list(tmp_path.iterdir()) == []


def test_missing_checkpoint_names_the_path(tmp_path):
    path = tmp_path / "nothing.ckpt"
    with pytest.raises(FileNotFoundError, match=r"nothing\.ckpt"):
        cl.load_checkpoint(cl.mlp(), path)


@pytest.mark.parametrize("damage", ["truncate", "random", "npy", "foreign npz"])
def test_damaged_or_foreign_file_raises_checkpoint_error(tmp_path, damage):
    model = cl.small_cnn(10, width=4)
    path = cl.save_checkpoint(model, tmp_path / "cnn.ckpt")
    if damage == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).bytes(2048))
    elif damage == "npy":
        with open(path, "wb") as f:
            np.save(f, np.arange(3))
    else:
        with open(path, "wb") as f:
            np.savez(f, w0000=np.zeros(3))
    before = _values(model.weights)
    with pytest.raises(CheckpointError, match="not a readable course checkpoint"):
        cl.load_checkpoint(model, path)
    for a, b in zip(before, _values(model.weights), strict=True):
        np.testing.assert_array_equal(a, b)


def test_other_architecture_raises_checkpoint_error(tmp_path):
    path = cl.save_checkpoint(cl.small_cnn(10, width=4), tmp_path / "cnn.ckpt")
    with pytest.raises(CheckpointError, match="shape"):
        cl.load_checkpoint(cl.small_cnn(10, width=8), path)
    with pytest.raises(CheckpointError, match="shape"):
        cl.load_checkpoint(cl.small_cnn(5, width=4), path)
    with pytest.raises(CheckpointError, match="holds 22 weights but the model has 6"):
        cl.load_checkpoint(cl.mlp(), path)
