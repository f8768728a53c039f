"""fit / evaluate / predict / data_loader in both frameworks, and the neutral training pieces."""

import numpy as np
import pytest

from course_lib import config, training
from course_lib.data import load_digits
from course_lib.errors import UnknownNameError
from course_lib.training import EarlyStopping, History, output_metrics

HISTORY_KEYS = ["loss", "accuracy", "val_loss", "val_accuracy"]


@pytest.fixture(scope="module")
def digits():
    d = load_digits()  # 8x8: fast, and small_cnn handles any H, W >= 8
    order = np.random.default_rng(0).permutation(len(d.labels))
    return d.take(order[:600]), d.take(order[600:900])


def _trained(cl, train, val=None, seed=0, **kwargs):
    config.seed_everything(seed)
    model = cl.small_cnn(10, width=8)
    kwargs.setdefault("epochs", 3)
    kwargs.setdefault("lr", 1e-2)
    return model, cl.fit(model, train, val, quiet=True, seed=seed, **kwargs)


# --------------------------------------------------------------------------- both frameworks
def test_fit_learns_and_reports_the_same_keys(cl, digits):
    train, val = digits
    model, history = _trained(cl, train, val, epochs=4)
    assert history.keys() == HISTORY_KEYS
    assert len(history) == 4 and history.wall_s > 0
    assert history["loss"][-1] < history["loss"][0]
    assert history["accuracy"][-1] > 0.5  # chance is 0.1
    metrics = cl.evaluate(model, val)
    assert set(metrics) == {"loss", "accuracy"}
    assert metrics["accuracy"] == pytest.approx(history["val_accuracy"][-1], abs=1e-6)


def test_fit_is_repeatable_with_the_same_seed(cl, digits):
    train, _ = digits
    _, first = _trained(cl, train, epochs=2)
    _, second = _trained(cl, train, epochs=2)
    assert first["loss"] == pytest.approx(second["loss"], rel=1e-5)


def test_fit_without_validation_has_training_keys_only(cl, digits):
    _, history = _trained(cl, digits[0], epochs=1)
    assert history.keys() == ["loss", "accuracy"]


def _block_values(cl, model, names):
    """Every weight of the named blocks, BatchNorm running/moving statistics included."""
    if cl.FRAMEWORK == "torch":
        return {
            key: value.detach().cpu().numpy().copy()
            for key, value in model.state_dict().items()
            if key.split(".")[0] in names
        }
    return {
        f"{name}/{i}": np.array(w.numpy())
        for name in names
        for i, w in enumerate(model.get_layer(name).weights)
    }


def test_fit_trains_only_unfrozen_blocks(cl, digits):
    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    cl.freeze(model, up_to="block3")
    frozen, trained = ["block1", "block2", "block3"], ["block4", "head"]
    frozen_before = _block_values(cl, model, frozen)
    trained_before = _block_values(cl, model, trained)
    summary_before = cl.trainable_summary(model)
    cl.fit(model, digits[0], epochs=1, lr=1e-2, quiet=True)
    assert cl.trainable_summary(model) == summary_before
    frozen_after = _block_values(cl, model, frozen)
    trained_after = _block_values(cl, model, trained)
    assert frozen_before and frozen_after.keys() == frozen_before.keys()
    for key, old in frozen_before.items():  # the frozen blocks, statistics too, are untouched
        np.testing.assert_array_equal(frozen_after[key], old, err_msg=key)
    moved = [k for k, old in trained_before.items() if not np.array_equal(trained_after[k], old)]
    assert any(k.startswith("block4") for k in moved) and any(k.startswith("head") for k in moved)


def test_fully_frozen_model_is_a_clear_error(cl, digits):
    model = cl.small_cnn(10, width=8)
    cl.freeze(model)
    with pytest.raises(ValueError, match=r"Nothing to train.*unfreeze"):
        cl.fit(model, digits[0], epochs=1, quiet=True)


def test_a_bare_linear_head_trains_on_features(cl, digits):
    """A head alone, on precomputed features (lesson 01, section 8): no blocks, still trainable."""
    train, val = digits
    features = train.images.reshape(len(train), -1)
    if cl.FRAMEWORK == "torch":
        from torch import nn

        head = nn.Linear(features.shape[1], 10)
    else:
        import keras

        head = keras.Sequential([keras.Input((features.shape[1],)), keras.layers.Dense(10)])
    history = cl.fit(head, (features, train.labels), epochs=5, lr=1e-2, quiet=True)
    assert history["loss"][-1] < history["loss"][0]
    val_features = val.images.reshape(len(val), -1)
    assert cl.evaluate(head, (val_features, val.labels))["accuracy"] > 0.7


def test_callbacks_see_logs_and_can_stop(cl, digits):
    seen = []

    def stop_after_two(epoch, logs):
        seen.append((epoch, sorted(logs)))
        return epoch == 1

    _, history = _trained(cl, *digits, epochs=5, callbacks=[stop_after_two])
    assert len(history) == 2 and history.stopped_early
    assert seen[0] == (0, sorted(HISTORY_KEYS))


def test_sgd_and_adamw_and_own_optimizer(cl, digits):
    _, sgd = _trained(cl, digits[0], epochs=1, optimizer="sgd")
    _, adamw = _trained(cl, digits[0], epochs=1, optimizer="adamw", weight_decay=1e-2)
    assert np.isfinite(sgd["loss"][0]) and np.isfinite(adamw["loss"][0])

    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    if cl.FRAMEWORK == "torch":
        import torch

        opt = torch.optim.SGD(
            [
                {"params": model.head.parameters(), "lr": 1e-2},
                {"params": model.block1.parameters(), "lr": 1e-3},
            ],
            lr=1e-3,
        )
    else:
        import keras

        opt = keras.optimizers.SGD(1e-2)
    history = cl.fit(model, digits[0], epochs=1, optimizer=opt, quiet=True)
    assert np.isfinite(history["loss"][0])


def test_regression_with_mse(cl):
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (256, 1)).astype(np.float32)
    y = 2 * x + 0.5
    config.seed_everything(0)
    model = cl.mlp(1, (16,), 1)
    history = cl.fit(model, (x, y), (x, y), epochs=20, lr=3e-2, loss="mse", quiet=True)
    assert history.keys() == ["loss", "val_loss"]
    assert history["val_loss"][-1] < 0.05 < history["loss"][0]
    assert cl.evaluate(model, (x, y), loss="mse")["loss"] < 0.05


def test_data_loader_layout_batches_and_default_batch_size(cl, digits):
    train, _ = digits
    batches = list(cl.data_loader(train, batch_size=256))
    assert [len(b[1]) for b in batches] == [256, 256, 88]
    shape = tuple(batches[0][0].shape)
    assert shape == ((256, 1, 8, 8) if cl.FRAMEWORK == "torch" else (256, 8, 8, 1))
    default = config.sizes("training").batch_size
    assert len(next(iter(cl.data_loader(train)))[1]) == default


def test_data_loader_shuffles_by_seed(cl, digits):
    def first_labels(seed):
        _, yb = next(iter(cl.data_loader(digits[0], 32, shuffle=True, seed=seed)))
        return np.asarray(yb).tolist()

    assert first_labels(1) == first_labels(1)
    assert first_labels(1) != first_labels(2)
    unshuffled = np.asarray(next(iter(cl.data_loader(digits[0], 32)))[1])
    np.testing.assert_array_equal(unshuffled, digits[0].labels[:32])


def test_predict_and_evaluate_agree(cl, digits):
    model, _ = _trained(cl, digits[0], epochs=1)
    logits = cl.predict(model, digits[1])
    assert logits.shape == (300, 10)
    expected = output_metrics(logits, digits[1].labels, "cross_entropy")
    assert cl.evaluate(model, digits[1]) == pytest.approx(expected)
    assert cl.predict(model, digits[1].images).shape == (300, 10)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"epochs": 0}, ValueError, "epochs must be a positive integer"),
        ({"lr": -1.0}, ValueError, "lr must be a positive"),
        ({"optimizer": "adagrad"}, UnknownNameError, "adam, adamw, sgd"),
        ({"optimizer": 3}, TypeError, "optimizer must be a name"),
        ({"loss": "hinge"}, UnknownNameError, "cross_entropy, mse"),
        ({"weight_decay": 1e-4}, ValueError, "optimizer='adamw'"),
        ({"batch_size": 0}, ValueError, "batch_size must be a positive integer"),
        ({"callbacks": [42]}, TypeError, "callbacks must be callables"),
    ],
)
def test_fit_bad_arguments(cl, digits, kwargs, error, match):
    model = cl.small_cnn(10, width=8)
    with pytest.raises(error, match=match):
        cl.fit(model, digits[0], quiet=True, **kwargs)


def test_bad_data(cl):
    with pytest.raises(TypeError, match="LabelledImages"):
        cl.data_loader("digits.npz")
    with pytest.raises(ValueError, match="must match"):
        cl.data_loader((np.zeros((4, 8, 8)), np.zeros(3, dtype=int)))
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        cl.data_loader((np.zeros(4), np.zeros(4, dtype=int)))
    with pytest.raises(ValueError, match="empty"):
        cl.data_loader((np.zeros((0, 8, 8)), np.zeros(0, dtype=int)))


# --------------------------------------------------------------------------- neutral pieces
def test_output_metrics_cross_entropy_and_mse():
    logits = np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]]))
    metrics = output_metrics(logits, np.array([0, 2]), "cross_entropy")
    assert metrics["loss"] == pytest.approx(-(np.log(0.5) + np.log(0.1)) / 2)
    assert metrics["accuracy"] == 0.5
    assert output_metrics(np.ones((2, 1)), np.zeros(2), "mse") == {"loss": 1.0}
    with pytest.raises(ValueError, match=r"logits \(N, classes\)"):
        output_metrics(np.ones(3), np.zeros(3), "cross_entropy")


def test_history_access_best_and_errors():
    history = History()
    for loss, acc in [(1.0, 0.5), (0.4, 0.9), (0.6, 0.8)]:
        history.append({"loss": loss, "val_accuracy": acc})
    assert history["loss"] == [1.0, 0.4, 0.6]
    assert history.best("loss") == (2, 0.4)
    assert history.best("val_accuracy") == (2, 0.9)
    assert history.as_dict() == {"loss": [1.0, 0.4, 0.6], "val_accuracy": [0.5, 0.9, 0.8]}
    assert "3 epochs" in repr(history)
    with pytest.raises(UnknownNameError, match="has loss, val_accuracy"):
        history["accuracy"]


def test_early_stopping_waits_patience_epochs():
    stopper = EarlyStopping("val_loss", patience=2)
    decisions = [stopper(e, {"val_loss": v}) for e, v in enumerate([1.0, 0.8, 0.9, 0.85])]
    assert decisions == [False, False, False, True]
    assert stopper.best_epoch == 2 and stopper.best_value == 0.8
    rising = EarlyStopping("val_accuracy", patience=1)
    assert rising(0, {"val_accuracy": 0.5}) is False
    assert rising(1, {"val_accuracy": 0.4}) is True
    with pytest.raises(UnknownNameError, match="pass validation data"):
        EarlyStopping()(0, {"loss": 1.0})


def test_quiet_follows_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_QUIET", "1")
    assert training.resolve_quiet(None) is True
    assert training.resolve_quiet(False) is False
    monkeypatch.delenv("COURSE_QUIET")
    assert training.resolve_quiet(None) is False


def test_frozen_batchnorm_statistics_stay_put_in_both_frameworks(cl, digits):
    """Frozen blocks keep their BatchNorm running statistics (Keras semantics, torch mirrors it)."""
    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    cl.fit(model, digits[0], epochs=1, quiet=True)  # move the statistics away from 0/1

    def stats():
        if cl.FRAMEWORK == "torch":
            return {k: v.clone().numpy() for k, v in model.state_dict().items() if "running" in k}
        return {w.path: w.numpy() for w in model.weights if "moving" in w.path}

    cl.freeze(model, up_to="block4")
    before = stats()
    cl.fit(model, digits[1], epochs=1, quiet=True)
    after = stats()
    assert before and all(np.array_equal(before[k], after[k]) for k in before)
    cl.unfreeze(model)
    cl.fit(model, digits[1], epochs=1, quiet=True)
    assert any(not np.array_equal(before[k], v) for k, v in stats().items())


def _block_weights(cl, model, name):
    if cl.FRAMEWORK == "torch":
        block = dict(model.named_children())[name]
        return [p.detach().clone().numpy() for p in block.parameters()]
    block = next(layer for layer in model.layers if layer.name == name)
    return [w.numpy().copy() for w in block.weights if "moving" not in w.path]  # parameters


def test_per_block_learning_rates(cl, digits):
    """Discriminative learning rates: a dict of rates per block, the same in both frameworks."""
    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    cl.freeze(model, up_to="block2")
    before = {b: _block_weights(cl, model, b) for b in ("block1", "block3", "head")}
    rates = {"head": 1e-2, "block4": 1e-3, "block3": 1e-9}
    history = cl.fit(model, *digits, epochs=3, lr=rates, quiet=True)
    assert history.keys() == HISTORY_KEYS and history["accuracy"][-1] > 0.5

    def moved(block):
        pairs = zip(before[block], _block_weights(cl, model, block), strict=True)
        return max(float(np.abs(a - b).max()) for a, b in pairs)

    assert moved("block1") == 0  # frozen
    assert moved("block3") < 1e-6  # rate 1e-9
    assert moved("head") > 1e-3


def test_per_block_learning_rates_bad_input(cl, digits):
    model = cl.small_cnn(10, width=8)
    with pytest.raises(UnknownNameError, match="blocks are block1, block2"):
        cl.fit(model, digits[0], lr={"head": 1e-3, "fc": 1e-3}, quiet=True)
    with pytest.raises(ValueError, match=r"no rate for the trainable blocks \['block1'"):
        cl.fit(model, digits[0], lr={"head": 1e-3}, quiet=True)
    with pytest.raises(ValueError, match=r"lr\['head'\] must be a positive"):
        cl.fit(model, digits[0], lr={"head": 0}, quiet=True)
    with pytest.raises(ValueError, match="needs an optimizer name"):
        cl.fit(model, digits[0], lr={"head": 1e-3}, optimizer=object(), quiet=True)


def _train_mode_outputs(cl, model, images):
    if cl.FRAMEWORK == "torch":
        import torch

        from course_lib.torch.training import _frozen_batchnorm_to_eval

        model.train()
        _frozen_batchnorm_to_eval(model)  # as fit() trains: frozen blocks keep their statistics
        with torch.no_grad():
            out = model(cl.to_batch(images)).numpy()
        model.eval()
        return out
    return np.asarray(model(cl.to_batch(images), training=True))


def _block1_statistics(cl, model):
    if cl.FRAMEWORK == "torch":
        return [model.block1.bn.running_mean.clone().numpy(), model.block1.bn.running_var.numpy()]
    layer = next(layer for layer in model.layers if layer.name == "block1")
    return [w.numpy().copy() for w in layer.weights if "moving" in w.path]


def test_recalibrate_batchnorm_matches_the_data_statistics(cl, digits):
    """After recalibration on one full batch, evaluation mode behaves like training mode."""
    train, _ = digits
    config.seed_everything(0)
    model = cl.small_cnn(10, width=8)
    cl.fit(model, train, epochs=1, lr=3e-2, quiet=True)  # a few big steps: stale statistics
    cl.freeze(model, up_to="block1")  # frozen blocks keep their statistics
    stale = np.abs(cl.predict(model, train) - _train_mode_outputs(cl, model, train.images)).max()
    block1_before = _block1_statistics(cl, model)
    cl.recalibrate_batchnorm(model, train, batch_size=len(train))
    for a, b in zip(block1_before, _block1_statistics(cl, model), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = np.abs(cl.predict(model, train) - _train_mode_outputs(cl, model, train.images)).max()
    scale = np.abs(_train_mode_outputs(cl, model, train.images)).max()
    assert fresh < 0.05 * scale < stale  # torch keeps an unbiased variance: not exactly equal
