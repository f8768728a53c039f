"""fit(..., batchnorm=...): "train" is today's fit; "frozen" keeps every BatchNorm layer as it was.

"frozen" (fine-tuning a pretrained network on a few images): every BatchNorm layer normalises
with its running statistics, which do not change, and its scale and shift do not train, whether
or not its block is frozen; the other layers train. The model's trainable flags (and in PyTorch
every module's train/eval mode) are as before the call, also when fit raises.
"""

import numpy as np
import pytest

from course_lib import config
from course_lib.checks import batchnorm_mode
from course_lib.errors import ArgumentError

RNG = np.random.default_rng(0)
IMAGES = RNG.random((24, 16, 16), dtype=np.float32)  # 3 steps of 8
LABELS = np.arange(24) % 10


# --- what the tests look at, in either framework ------------------------------------------------


def _batchnorm_layers(cl, model):
    if cl.FRAMEWORK == "torch":
        from torch import nn

        return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    import keras

    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]


def _batchnorm_state(cl, model):
    """Every BatchNorm layer's running statistics and scale/shift, as NumPy arrays."""
    if cl.FRAMEWORK == "torch":
        return [
            v.detach().cpu().clone().numpy()
            for m in _batchnorm_layers(cl, model)
            for v in m.state_dict().values()
        ]
    return [np.array(w.numpy()) for layer in _batchnorm_layers(cl, model) for w in layer.weights]


def _state(cl, model):
    """Every weight and statistic of ``model``."""
    if cl.FRAMEWORK == "torch":
        return [v.detach().cpu().clone().numpy() for v in model.state_dict().values()]
    return [np.array(v.numpy()) for v in model.variables]


def _conv_kernels(cl, model, block):
    """The non-BatchNorm weights of top-level block ``block``."""
    if cl.FRAMEWORK == "torch":
        sub = _block(cl, model, block)
        norms = {id(p) for m in _batchnorm_layers(cl, sub) for p in m.parameters()}
        return [p.detach().cpu().clone().numpy() for p in sub.parameters() if id(p) not in norms]
    sub = _block(cl, model, block)
    norms = {id(w) for layer in _batchnorm_layers(cl, sub) for w in layer.weights}
    return [np.array(w.numpy()) for w in sub.weights if id(w) not in norms]


def _flags(cl, model):
    """Trainable flags (and in torch each module's train/eval mode), in model order."""
    if cl.FRAMEWORK == "torch":
        return [p.requires_grad for p in model.parameters()] + [m.training for m in model.modules()]
    layers = model._flatten_layers(include_self=True, recursive=True)
    return [layer.trainable for layer in layers] + [v.trainable for v in model.variables]


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def _same(before, after):
    return len(before) == len(after) and not _changed(before, after)


def _partly_frozen_cnn(cl):
    """A small_cnn whose BatchNorm statistics moved off their initial 0/1 (as if pretrained),
    with blocks 1-2 frozen and blocks 3, 4 and the head trainable."""
    config.seed_everything(0)
    model = cl.small_cnn(10, width=4)
    cl.fit(model, (IMAGES, LABELS), epochs=1, batch_size=8, quiet=True)
    cl.freeze(model, up_to="block2")
    return model


# --- the default is today's fit ------------------------------------------------------------------


def test_train_is_the_default_bit_for_bit_and_moves_the_statistics(cl):
    states = []
    for extra in ({}, {"batchnorm": "train"}):
        model = _partly_frozen_cnn(cl)
        before = _batchnorm_state(cl, model)
        cl.fit(
            model, (IMAGES, LABELS), epochs=2, lr=1e-2, batch_size=8, seed=3, quiet=True, **extra
        )
        states.append(_state(cl, model))
        assert _changed(before, _batchnorm_state(cl, model))  # unfrozen blocks' BN trained
    assert _same(*states)


# --- frozen: no BatchNorm layer changes, the rest trains, the flags come back ---------------------


def _own_optimizer(cl, model):
    if cl.FRAMEWORK == "torch":
        import torch

        # every parameter, with weight decay: only requires_grad=False keeps gamma/beta put
        return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    import keras

    return keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)


HOW = {
    "one rate": lambda cl, model: {"lr": 1e-2},
    "rates per block": lambda cl, model: {"lr": {"block3": 1e-2, "block4": 1e-2, "head": 1e-2}},
    "own optimizer": lambda cl, model: {"optimizer": _own_optimizer(cl, model)},
    "penalty": lambda cl, model: {"lr": 1e-2, "penalty": lambda m: 0.0 * sum(_squares(cl, m))},
}


def _squares(cl, model):
    if cl.FRAMEWORK == "torch":
        return [(p**2).sum() for p in model.parameters()]
    import keras

    return [keras.ops.sum(w**2) for w in model.trainable_weights]


@pytest.mark.parametrize("how", HOW)
def test_frozen_keeps_every_batchnorm_layer_and_trains_the_rest(cl, how):
    model = _partly_frozen_cnn(cl)
    if cl.FRAMEWORK == "torch":
        model.eval()  # a state fit would otherwise change (it trains in train mode)
    bn, flags = _batchnorm_state(cl, model), _flags(cl, model)
    kernels = {b: _conv_kernels(cl, model, b) for b in ("block1", "block3", "block4", "head")}
    options = HOW[how](cl, model)
    cl.fit(
        model, (IMAGES, LABELS), epochs=2, batch_size=8, quiet=True, batchnorm="frozen", **options
    )
    assert _same(bn, _batchnorm_state(cl, model))  # statistics, gamma and beta: every layer
    assert not _changed(kernels["block1"], _conv_kernels(cl, model, "block1"))  # frozen block
    for block in ("block3", "block4", "head"):
        assert _changed(kernels[block], _conv_kernels(cl, model, block)), block
    assert _flags(cl, model) == flags
    if cl.FRAMEWORK == "torch":
        assert not model.training and not any(m.training for m in model.modules())


def test_frozen_restores_the_flags_when_fit_raises(cl):
    model = _partly_frozen_cnn(cl)
    flags = _flags(cl, model)

    def fail(epoch, logs):
        raise RuntimeError("callback failed")

    with pytest.raises(RuntimeError, match="callback failed"):
        cl.fit(
            model, (IMAGES, LABELS), batch_size=8, quiet=True, batchnorm="frozen", callbacks=[fail]
        )
    assert _flags(cl, model) == flags
    assert all(
        _trainable(cl, layer) for layer in _batchnorm_layers(cl, _block(cl, model, "block3"))
    )


def _block(cl, model, name):
    return dict(model.named_children())[name] if cl.FRAMEWORK == "torch" else model.get_layer(name)


def _trainable(cl, layer):
    if cl.FRAMEWORK == "torch":
        return all(p.requires_grad for p in layer.parameters())
    return (
        layer.trainable
        and all(w.trainable for w in layer.trainable_weights)
        and layer.trainable_weights
    )


def test_frozen_on_the_imagenet_backbone(cl):
    """EfficientNet-Lite0's BatchNorm layers sit inside nested MBConv blocks: all stay put."""
    rng = np.random.default_rng(1)
    x, y = rng.random((16, 32, 32), dtype=np.float32), rng.integers(0, 10, 16)
    model = cl.imagenet_backbone(10)
    cl.freeze(model, up_to="block6")
    bn, flags = _batchnorm_state(cl, model), _flags(cl, model)
    assert len(bn) > 50
    kernels = {b: _conv_kernels(cl, model, b) for b in ("block6", "block7", "top", "head")}
    cl.fit(model, (x, y), epochs=1, lr=1e-3, batch_size=8, quiet=True, batchnorm="frozen")
    assert _same(bn, _batchnorm_state(cl, model))
    assert not _changed(kernels["block6"], _conv_kernels(cl, model, "block6"))
    for block in ("block7", "top", "head"):
        assert _changed(kernels[block], _conv_kernels(cl, model, block)), block
    assert _flags(cl, model) == flags


# --- bad values: one error, one message, both frameworks -----------------------------------------


@pytest.mark.parametrize("value", ["freeze", None, True, "Frozen", ""])
def test_bad_values_are_rejected_alike(value):
    from course_lib import keras as ck
    from course_lib import torch as ct

    messages = []
    for cl in (ct, ck):
        model = cl.small_cnn(10, width=4)
        before = _state(cl, model)
        with pytest.raises(ArgumentError) as err:
            cl.fit(model, (IMAGES, LABELS), batch_size=8, quiet=True, batchnorm=value)
        assert _same(before, _state(cl, model))  # rejected before any step
        messages.append(str(err.value))
    assert messages[0] == messages[1]
    assert repr(value) in messages[0]
    assert "'train'" in messages[0] and "'frozen'" in messages[0]
    assert "fine-tuning a pretrained network" in messages[0]


def test_the_check_passes_the_two_values():
    assert batchnorm_mode("train") == "train"
    assert batchnorm_mode("frozen") == "frozen"
