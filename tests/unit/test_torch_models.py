"""course_lib.torch.models: architecture, parameter counts, freezing, summaries and checkpoints."""

import numpy as np
import pytest
import torch

from course_lib import torch as cl
from course_lib.errors import CheckpointError, CourseError, UnknownNameError

BLOCKS = ["block1", "block2", "block3", "block4", "head"]

# small_cnn(10, width=32), learnable parameters only (BatchNorm running stats are buffers):
#   block1: conv 3*3*1*32   =    288, BN gamma+beta 2*32  =  64  ->    352
#   block2: conv 3*3*32*64  = 18,432, BN 2*64             = 128  -> 18,560
#   block3: conv 3*3*64*64  = 36,864, BN 2*64             = 128  -> 36,992
#   block4: conv 3*3*64*128 = 73,728, BN 2*128            = 256  -> 73,984
#   head:   Linear 128*10 + 10                                   ->  1,290
#   total:  352 + 18,560 + 36,992 + 73,984 + 1,290               -> 131,178
# The Keras mirror must report the same numbers (it leaves out BatchNorm moving mean/variance).
CNN_PARAMS = {"block1": 352, "block2": 18_560, "block3": 36_992, "block4": 73_984, "head": 1_290}
CNN_TOTAL = 131_178


def _block_params(model, name, *, trainable_only=False):
    block = dict(model.named_children())[name]
    return sum(p.numel() for p in block.parameters() if p.requires_grad or not trainable_only)


def _is_frozen(model, name):
    return all(not p.requires_grad for p in dict(model.named_children())[name].parameters())


def _is_trainable(model, name):
    return all(p.requires_grad for p in dict(model.named_children())[name].parameters())


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    return cl.small_cnn(10, width=8)


# --- architecture ---------------------------------------------------------------------------------


def test_small_cnn_block_names_and_output_shape():
    model = cl.small_cnn(10)
    assert cl.layer_names(model) == BLOCKS
    model.eval()
    with torch.no_grad():
        assert model(torch.zeros(4, 1, 28, 28)).shape == (4, 10)
        assert model(torch.zeros(2, 1, 8, 8)).shape == (2, 10)  # global pooling: any H, W >= 8


def test_small_cnn_layers_are_as_specified():
    model = cl.small_cnn(5, width=4, in_channels=3)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [(3, 4), (4, 8), (8, 8), (8, 16)]
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) and c.bias is None for c in convs)
    pools = [n for n, m in model.named_modules() if isinstance(m, torch.nn.MaxPool2d)]
    assert [p.split(".")[0] for p in pools] == ["block1", "block2", "block3"]
    assert model(torch.zeros(1, 3, 28, 28)).shape == (1, 5)


def test_small_cnn_parameter_counts_per_block_and_total():
    model = cl.small_cnn(10, width=32)
    assert {name: _block_params(model, name) for name in BLOCKS} == CNN_PARAMS
    assert sum(p.numel() for p in model.parameters()) == CNN_TOTAL


@pytest.mark.parametrize(
    "kwargs",
    [{"num_classes": 0}, {"num_classes": 10, "width": -1}, {"num_classes": 2.5},
     {"num_classes": 10, "in_channels": 0}, {"num_classes": True}],
)
def test_small_cnn_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError, match="positive integer"):
        cl.small_cnn(**kwargs)


def test_mlp_names_shapes_and_counts():
    model = cl.mlp(3, hidden=(5, 7), out_features=2)
    assert cl.layer_names(model) == ["layer1", "layer2", "head"]
    assert model(torch.zeros(4, 3)).shape == (4, 2)
    # layer1 3*5+5 = 20, layer2 5*7+7 = 42, head 7*2+2 = 16
    assert [_block_params(model, n) for n in ("layer1", "layer2", "head")] == [20, 42, 16]
    assert cl.layer_names(cl.mlp()) == ["layer1", "layer2", "head"]
    with pytest.raises(ValueError, match="hidden"):
        cl.mlp(1, hidden=(4, 0))


# --- freezing -------------------------------------------------------------------------------------


def test_freeze_up_to_block2_and_an_optimizer_step_only_moves_trainable_weights(tiny):
    cl.freeze(tiny, up_to="block2")
    assert _is_frozen(tiny, "block1") and _is_frozen(tiny, "block2")
    assert all(_is_trainable(tiny, n) for n in ("block3", "block4", "head"))

    before = {k: v.detach().clone() for k, v in tiny.named_parameters()}
    opt = torch.optim.SGD(tiny.parameters(), lr=0.5)  # all of them: freezing must suffice
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))
    torch.nn.functional.cross_entropy(tiny(x), y).backward()
    opt.step()
    after = dict(tiny.named_parameters())
    for key, old in before.items():
        moved = not torch.equal(old, after[key])
        assert moved == key.startswith(("block3", "block4", "head")), key
    assert not torch.equal(before["head.linear.weight"], after["head.linear.weight"])


def test_freeze_all_and_unfreeze(tiny):
    cl.freeze(tiny)
    assert all(_is_frozen(tiny, n) for n in BLOCKS)
    cl.unfreeze(tiny, "head")
    assert _is_trainable(tiny, "head") and _is_frozen(tiny, "block4")
    cl.unfreeze(tiny, ["block3", "block4"])
    assert _is_trainable(tiny, "block3") and _is_trainable(tiny, "block4")
    assert _is_frozen(tiny, "block2")
    cl.unfreeze(tiny)
    assert all(_is_trainable(tiny, n) for n in BLOCKS)


@pytest.mark.parametrize(
    "call", [lambda m: cl.freeze(m, up_to="blok2"), lambda m: cl.unfreeze(m, ["head", "blok2"])]
)
def test_unknown_layer_names_list_the_valid_ones(tiny, call):
    with pytest.raises(UnknownNameError) as info:
        call(tiny)
    assert str(info.value) == (
        "Unknown layer 'blok2'; valid layers: block1, block2, block3, block4, head."
    )
    assert all(_is_trainable(tiny, n) for n in BLOCKS)  # nothing changed before the error


def test_trainable_summary_counts_and_states():
    model = cl.small_cnn(10, width=32)
    cl.freeze(model, up_to="block2")
    text = cl.trainable_summary(model)
    lines = text.splitlines()
    block1 = next(line for line in lines if line.startswith("block1"))
    assert "conv block" in block1 and "352" in block1 and block1.endswith("frozen")
    head = next(line for line in lines if line.startswith("head "))
    assert "1,290" in head and head.endswith("trainable")
    assert "131,178" in text and f"{352 + 18_560:,} frozen" in text
    assert "dense" in cl.trainable_summary(cl.mlp())


# --- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_round_trip_restores_weights_buffers_and_meta(tiny, tmp_path):
    tiny.train()
    tiny(torch.randn(4, 1, 28, 28))  # move BatchNorm running statistics off their defaults
    meta = {"epoch": 3, "acc": 0.91, "note": "ok", "history": [0.5, 0.3], "cfg": {"lr": None}}
    path = cl.save_checkpoint(tiny, tmp_path / "sub" / "dir" / "model.pt", **meta)
    assert path == tmp_path / "sub" / "dir" / "model.pt" and path.is_file()

    torch.manual_seed(1)
    other = cl.small_cnn(10, width=8)
    assert not torch.equal(other.block1.conv.weight, tiny.block1.conv.weight)
    assert cl.load_checkpoint(other, str(path)) == meta
    for (k, a), (k2, b) in zip(tiny.state_dict().items(), other.state_dict().items(), strict=True):
        assert k == k2 and torch.equal(a, b), k


def test_save_leaves_no_temporary_files_behind(tiny, tmp_path):
    cl.save_checkpoint(tiny, tmp_path / "a.pt")
    cl.save_checkpoint(tiny, tmp_path / "a.pt", epoch=2)  # overwrite in place
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]


def test_interrupted_save_keeps_the_old_checkpoint(tiny, tmp_path, monkeypatch):
    path = cl.save_checkpoint(tiny, tmp_path / "a.pt", epoch=1)

    def broken_save(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", broken_save)
    with pytest.raises(KeyboardInterrupt):
        cl.save_checkpoint(tiny, path, epoch=2)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["a.pt"]
    assert cl.load_checkpoint(tiny, path) == {"epoch": 1}


def test_meta_must_be_json_like(tiny, tmp_path):
    with pytest.raises(ValueError, match="Tensor"):
        cl.save_checkpoint(tiny, tmp_path / "a.pt", loss=torch.tensor(1.0))
    with pytest.raises(ValueError, match="ndarray"):
        cl.save_checkpoint(tiny, tmp_path / "a.pt", cfg={"w": np.zeros(2)})
    assert not list(tmp_path.iterdir())


def test_missing_checkpoint_says_where_and_how(tiny, tmp_path):
    path = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError) as info:
        cl.load_checkpoint(tiny, path)
    assert str(path) in str(info.value) and "save_checkpoint" in str(info.value)


def _assert_unreadable(model, path):
    with pytest.raises(CheckpointError) as info:
        cl.load_checkpoint(model, path)
    message = str(info.value)
    assert str(path) in message and "not a readable course checkpoint" in message
    assert "save_checkpoint" in message
    assert isinstance(info.value, CourseError)


def test_truncated_checkpoint(tiny, tmp_path):
    path = cl.save_checkpoint(tiny, tmp_path / "a.pt")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_unreadable(tiny, path)


def test_random_bytes_and_foreign_files(tiny, tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    _assert_unreadable(tiny, path)
    path.write_bytes(b"")
    _assert_unreadable(tiny, path)
    torch.save(tiny.state_dict(), path)  # a plain state_dict: torch-readable but not ours
    _assert_unreadable(tiny, path)


def test_checkpoint_of_another_architecture(tmp_path):
    wide = cl.small_cnn(10, width=16)
    path = cl.save_checkpoint(wide, tmp_path / "wide.pt")
    with pytest.raises(CheckpointError, match=r"different architecture.*block1\.conv\.weight"):
        cl.load_checkpoint(cl.small_cnn(10, width=8), path)

    path = cl.save_checkpoint(cl.mlp(), tmp_path / "mlp.pt")
    with pytest.raises(CheckpointError) as info:
        cl.load_checkpoint(cl.small_cnn(10, width=8), path)
    message = str(info.value)
    assert "missing keys: block1.conv.weight" in message
    assert "unexpected keys: layer1.linear.weight" in message
