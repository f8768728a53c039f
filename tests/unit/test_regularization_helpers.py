"""Lesson 03's library pieces in both frameworks: fit(penalty, augment, label_smoothing),
EarlyStopping(restore_best), dropout in the models, augmentation pipelines."""

import numpy as np
import pytest

from course_lib import config
from course_lib.data import load_digits
from course_lib.training import EarlyStopping


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(3).permutation(len(d.labels))
    return d.take(order[:300]), d.take(order[300:600])


def _flat(d):
    return d.images.reshape(len(d), -1), d.labels


def _kernels(cl, model):
    if cl.FRAMEWORK == "torch":
        return [p for name, p in model.named_parameters() if p.ndim > 1]
    return [w for w in model.trainable_weights if "kernel" in w.path]


def _squares(cl, model):
    if cl.FRAMEWORK == "torch":
        return sum((w**2).sum() for w in _kernels(cl, model))
    import keras

    return sum(keras.ops.sum(w**2) for w in _kernels(cl, model))


def _norm(cl, model):
    return float(
        np.sqrt(sum(float(np.sum(np.asarray(_numpy(cl, w)) ** 2)) for w in _kernels(cl, model)))
    )


def _numpy(cl, w):
    return w.detach().cpu().numpy() if cl.FRAMEWORK == "torch" else np.asarray(w)


def _mlp(cl, seed=0, **kwargs):
    config.seed_everything(seed)
    return cl.mlp(64, (64,), 10, **kwargs)


def test_a_penalty_enters_the_gradient_but_not_the_reported_loss(cl, digits):
    train, _ = digits
    plain, penalized = _mlp(cl), _mlp(cl)
    h_plain = cl.fit(plain, _flat(train), epochs=8, lr=1e-2, quiet=True)
    h_pen = cl.fit(
        penalized,
        _flat(train),
        epochs=8,
        lr=1e-2,
        quiet=True,
        penalty=lambda m: 0.05 * _squares(cl, m),
    )
    assert _norm(cl, penalized) < 0.6 * _norm(cl, plain)  # the penalty pulled weights to 0
    first_plain, first_pen = h_plain["loss"][0], h_pen["loss"][0]
    assert first_pen == pytest.approx(first_plain, rel=0.25)  # data loss only, not + penalty


def test_label_smoothing_makes_the_model_less_confident(cl, digits):
    train, _ = digits
    confidence = {}
    for smoothing in (0.0, 0.3):
        model = _mlp(cl)
        cl.fit(model, _flat(train), epochs=15, lr=1e-2, quiet=True, label_smoothing=smoothing)
        logits = cl.predict(model, _flat(train)[0])
        p = np.exp(logits - logits.max(1, keepdims=True))
        confidence[smoothing] = float((p / p.sum(1, keepdims=True)).max(1).mean())
    assert confidence[0.3] < confidence[0.0] - 0.05


def test_early_stopping_restores_the_best_epoch(cl, digits):
    train, val = digits
    model = _mlp(cl)
    stopper = EarlyStopping("val_loss", patience=2, restore_best=True)
    history = cl.fit(
        model, _flat(train), _flat(val), epochs=40, lr=3e-2, quiet=True, callbacks=[stopper]
    )
    assert stopper.restored and 1 <= stopper.best_epoch <= len(history)
    best = min(history["val_loss"])
    assert stopper.best_value == pytest.approx(best)
    assert cl.evaluate(model, _flat(val))["loss"] == pytest.approx(best, rel=1e-4)
    if stopper.best_epoch < len(history):  # the last epoch was worse: restoring changed it
        assert history["val_loss"][-1] > best


def test_early_stopping_without_restore_keeps_the_last_weights(cl, digits):
    train, val = digits
    model = _mlp(cl)
    stopper = EarlyStopping("val_loss", patience=2)
    history = cl.fit(
        model, _flat(train), _flat(val), epochs=40, lr=3e-2, quiet=True, callbacks=[stopper]
    )
    assert not stopper.restored
    assert cl.evaluate(model, _flat(val))["loss"] == pytest.approx(
        history["val_loss"][-1], rel=1e-4
    )


def test_augmentation_distorts_each_image_and_fit_uses_it(cl, digits):
    train, _ = digits
    images = np.repeat(train.images[:1], 8, axis=0).astype(np.float32)  # 8 copies of one image
    augment = cl.augmentation(rotation=20, shift=0.2, zoom=0.2)
    config.seed_everything(0)
    if cl.FRAMEWORK == "torch":
        import torch

        out = augment(torch.from_numpy(images)[:, None]).numpy()[:, 0]
    else:
        out = np.asarray(augment(images[..., None], training=True))[..., 0]
    assert out.shape == images.shape
    assert not np.allclose(out, images)  # distorted ...
    assert not np.allclose(out[0], out[1])  # ... each copy differently
    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    history = cl.fit(model, train, epochs=3, lr=1e-2, quiet=True, augment=augment)
    assert history["loss"][-1] < history["loss"][0]
    # fit trains on what augment returns: blanked images leave nothing to learn but the class
    # frequencies (chance is 0.1), whatever the network does with the real ones
    config.seed_everything(0)
    blank = cl.fit(cl.small_cnn(10, width=8), train, epochs=3, lr=1e-2, quiet=True,
                   augment=lambda x: x * 0)  # fmt: skip
    assert blank["accuracy"][-1] < 0.2 < history["accuracy"][-1]


def test_keras_fit_moves_the_augmentation_generators_on_by_a_fixed_jump(digits):
    """tf.data reads augmented batches ahead, a timing-dependent number of them: fit leaves the
    random generators at a fixed offset, so a second fit with the same layers is reproducible."""
    from course_lib import keras as ck
    from course_lib.keras import training

    train, _ = digits
    augment = ck.augmentation()
    generators = training._seed_generators(augment)
    assert len(generators) == 3  # rotation, translation, zoom
    assert training._seed_generators(lambda x: x) == []
    before = [np.array(g.state.numpy()) for g in generators]
    config.seed_everything(0)
    model = ck.small_cnn(10, width=8)
    for fits in (1, 2):
        ck.fit(model, train, epochs=1, lr=1e-2, quiet=True, augment=augment)
        for g, start in zip(generators, before, strict=True):
            np.testing.assert_array_equal(
                g.state.numpy(), start + np.array([0, fits * training.AUGMENTATION_JUMP])
            )


def test_dropout_is_random_in_training_and_off_at_inference(cl):
    x = np.random.default_rng(0).normal(size=(4, 64)).astype(np.float32)
    model = _mlp(cl, dropout=0.5)
    if cl.FRAMEWORK == "torch":
        import torch

        model.train()
        a, b = (model(torch.from_numpy(x)).detach().numpy() for _ in range(2))
        model.eval()
        c, d = (model(torch.from_numpy(x)).detach().numpy() for _ in range(2))
    else:
        a, b = (np.asarray(model(x, training=True)) for _ in range(2))
        c, d = (np.asarray(model(x, training=False)) for _ in range(2))
    assert not np.allclose(a, b)
    np.testing.assert_allclose(c, d)
    assert "dropout" in str(
        cl.small_cnn(10, width=8, dropout=0.3).get_submodule("head")
        if cl.FRAMEWORK == "torch"
        else [
            layer.name for layer in cl.small_cnn(10, width=8, dropout=0.3).get_layer("head").layers
        ]
    )


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"label_smoothing": 1.5}, ValueError, "label_smoothing"),
        ({"label_smoothing": 0.1, "loss": "mse"}, ValueError, "cross_entropy"),
        ({"penalty": "l2"}, TypeError, "penalty must be a function"),
        ({"augment": 3}, TypeError, "augment must be a function"),
    ],
)
def test_bad_regularization_arguments(cl, digits, kwargs, error, match):
    with pytest.raises(error, match=match):
        cl.fit(_mlp(cl), _flat(digits[0]), epochs=1, quiet=True, **kwargs)


def test_bad_dropout_and_augmentation_arguments(cl):
    with pytest.raises(ValueError, match="dropout"):
        cl.mlp(4, (4,), 2, dropout=1.0)
    with pytest.raises(ValueError, match="rotation"):
        cl.augmentation(rotation=-5)
    with pytest.raises(ValueError, match="shift"):
        cl.augmentation(shift=2)


def test_an_mlp_on_images_flattens_them_first_and_both_tables_agree(cl, digits):
    model = cl.mlp((8, 8), (32,), 10, dropout=0.2)
    assert cl.layer_names(model) == ["flatten", "layer1", "head"]
    table = cl.trainable_summary(model)
    assert "flatten    flatten" in table and "2,410" in table  # 64*32+32 + 32*10+10
    history = cl.fit(model, digits[0], epochs=3, lr=1e-2, quiet=True)  # images, not vectors
    assert history["loss"][-1] < history["loss"][0]
