"""Bad input, as a new learner would give it, in both frameworks (issue 20).

Each case gets one course error (``course_lib.errors``) that names what was expected and how to
fix it, the same in both frameworks; where a learner may mean it, a warning. Nothing trains on
NaN in silence, and no framework traceback reaches the learner.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from course_lib import checks, config, data, meta
from course_lib.data.types import LabelledImages
from course_lib.errors import ArgumentError, ArgumentTypeError, NonFiniteLossError
from course_lib.multitask import MISSING, MultiTaskData, run_steps
from course_lib.training import LossWatch

N = 16
R = np.random.default_rng(0)
X = R.random((N, 8, 8), dtype=np.float32)
Y = np.arange(N) % 10
FEATURES = R.random((N, 6), dtype=np.float32)


def cnn(cl, classes=10):
    return cl.small_cnn(classes, width=4)


def fit(cl, x, y, model=None, **kwargs):
    kwargs.setdefault("batch_size", 8)
    return cl.fit(model or cnn(cl), (x, y), quiet=True, **kwargs)


def planted(x, value, index=5):
    x = x.copy()
    x.flat[index] = value
    return x


@pytest.fixture
def no_warnings():
    """Good data passes without a warning from the course."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", module="course_lib")
        warnings.filterwarnings("error", message=".*(8-bit|large)")
        yield


# --------------------------------------------------------------------------- NaN / Inf inputs
CALLS = {
    "fit": lambda cl, x: fit(cl, x, Y),
    "fit val": lambda cl, x: cl.fit(cnn(cl), (X, Y), (x, Y), quiet=True, batch_size=8),
    "evaluate": lambda cl, x: cl.evaluate(cnn(cl), (x, Y)),
    "predict": lambda cl, x: cl.predict(cnn(cl), x),
    "features": lambda cl, x: cl.features(cnn(cl), x),
}


@pytest.mark.parametrize("call", CALLS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_inputs_are_an_error(cl, call, value):
    with pytest.raises(ArgumentError, match=r"inputs hold 1 (NaN|Inf) value.*sample 0.*isfinite"):
        CALLS[call](cl, planted(X, value))


def test_all_nan_images_are_an_error_not_a_plausible_score(cl):
    with pytest.raises(ArgumentError, match=f"{X.size} NaN value.*{N} of {N} samples"):
        cl.evaluate(cnn(cl), (np.full_like(X, np.nan), Y))


def test_non_finite_regression_targets_are_an_error(cl):
    with pytest.raises(ArgumentError, match="targets hold 1 NaN"):
        fit(cl, FEATURES, planted(FEATURES[:, :1], np.nan, 0), cl.mlp(6, (4,), 1), loss="mse")


# --------------------------------------------------------------------------- a loss that diverges
def test_an_infinite_loss_stops_fit_and_says_why(cl):
    targets = np.where(np.arange(N)[:, None] == 3, 1e30, 1.0).astype(np.float32)
    with pytest.raises(NonFiniteLossError, match=r"became inf at epoch 1/2") as info:
        fit(cl, FEATURES, targets, cl.mlp(6, (4,), 1), loss="mse", epochs=2)
    message = str(info.value)
    assert "lr=0.001: try 10x smaller, lr=0.0001" in message
    assert "NaN/Inf or huge values in the inputs or targets" in message
    assert isinstance(info.value, FloatingPointError)


@pytest.mark.parametrize("step", ["compiled", "course step"])
def test_a_rate_too_high_stops_fit_mid_run(cl, step):
    """lr=9 with SGD: finite for a while, then inf. The error names the last finite loss;
    also through the course's own step (a penalty) and with the progress bar shown."""
    extra = {"penalty": lambda model: 0.0} if step == "course step" else {}
    with pytest.raises(
        NonFiniteLossError, match=r"last finite loss was .* try 10x smaller, lr=0\.9"
    ):
        fit(cl, FEATURES * 50, FEATURES[:, :1] * 50, cl.mlp(6, (16,), 1), loss="mse",
            lr=9.0, optimizer="sgd", epochs=10, **extra)  # fmt: skip


def test_the_loss_check_runs_when_the_bar_is_shown(cl, capsys):
    targets = np.where(np.arange(N)[:, None] == 3, 1e30, 1.0).astype(np.float32)
    with pytest.raises(NonFiniteLossError, match=r"epoch 1/1, step 1/2"):
        cl.fit(cl.mlp(6, (4,), 1), (FEATURES, targets), loss="mse", batch_size=8, quiet=False)


def test_loss_watch_names_place_rate_and_last_value():
    watch = LossWatch({"head": 1e-2, "block4": 1e-3})
    assert watch.check(2.5, "epoch 1/3, step 1/4") == 2.5
    with pytest.raises(NonFiniteLossError) as info:
        watch.check(float("nan"), "epoch 1/3, step 2/4")
    message = str(info.value)
    assert "became nan at epoch 1/3, step 2/4" in message
    assert "last finite loss was 2.5 (epoch 1/3, step 1/4)" in message
    assert "{'head': 0.001, 'block4': 0.0001}" in message
    with pytest.raises(NonFiniteLossError, match=r"not finite from the start.*optimizer's"):
        LossWatch(None).check(float("inf"), "step 1/1")


def test_meta_train_stops_on_a_nan_loss():
    losses = iter([0.5, 0.4, float("nan")])
    with pytest.raises(NonFiniteLossError, match=r"iteration 3/5; the last finite loss was 0\.4"):
        meta.meta_train(lambda tasks: next(losses), lambda rng: None, 5, quiet=True)


def test_multitask_steps_stop_on_a_nan_loss():
    toy = MultiTaskData(X, {"a": Y % 3}, {"a": 3})
    losses = iter([1.0, float("inf")])
    with pytest.raises(NonFiniteLossError, match=r"step 2/3.*lr=0\.5"):
        run_steps(lambda batch: {"loss": next(losses), "a": 1.0}, toy, steps=3, batch_size=4,
                  seed=0, log_every=None, quiet=True, lr=0.5)  # fmt: skip


# --------------------------------------------------------------------------- labels
BAD_LABELS = {
    "-1": (np.where(Y == 0, -1, Y), ArgumentError, r">= 0, got \[-1\].*MultiTaskData"),
    "10 of 10": (np.where(Y == 0, 10, Y), ArgumentError, r"\[10\].*outside 0\.\.9.*10 class"),
    "float": (Y + 0.5, ArgumentTypeError, "not whole numbers"),
    "whole float": (Y.astype(np.float32), ArgumentTypeError, r"astype\(np\.int64\)"),
    "string": (Y.astype(str), ArgumentTypeError, "np.unique"),
    "one-hot": (np.eye(10, dtype=np.float32)[Y], ArgumentError, r"argmax\(axis=1\)"),
    "(N, 1)": (Y[:, None], ArgumentError, r"y\[:, 0\]"),
}


@pytest.mark.parametrize("case", BAD_LABELS)
def test_bad_labels_are_one_course_error_in_fit(cl, case):
    labels, error, match = BAD_LABELS[case]
    with pytest.raises(error, match=match):
        fit(cl, X, labels)


@pytest.mark.parametrize("case", BAD_LABELS)
def test_bad_labels_are_one_course_error_in_evaluate(cl, case):
    labels, error, match = BAD_LABELS[case]
    with pytest.raises(error, match=match):
        cl.evaluate(cnn(cl), (X, labels))


def test_labels_beyond_the_outputs_name_both_numbers(cl):
    with pytest.raises(ArgumentError, match=r"labels \[7, 8, 9\].*outside 0\.\.6.*outputs 7"):
        fit(cl, X, Y, cnn(cl, classes=7))


def test_regression_targets_must_match_the_outputs(cl):
    with pytest.raises(ArgumentError, match=r"3 value\(s\) per sample.*outputs 1"):
        fit(cl, FEATURES, np.ones((N, 3), np.float32), cl.mlp(6, (4,), 1), loss="mse")


def test_integer_regression_targets_are_taken_as_floats(cl, no_warnings):
    history = fit(cl, FEATURES, np.arange(N) % 3, cl.mlp(6, (4,), 1), loss="mse")
    assert np.isfinite(history["loss"][0])


# --------------------------------------------------------------------------- image shapes
BAD_SHAPES = {
    "channels first": (X[:, None], r"channels-first.*transpose\(0, 2, 3, 1\)"),
    "3 channels": (np.repeat(X[..., None], 3, axis=-1), r"1 channel.*got 3.*mean\(axis=-1\)"),
    "4x4": (X[:, :4, :4], r"4x4 are too small.*at least 8x8"),
    "5x5": (X[:, :5, :5], r"5x5 are too small"),
    "5-D": (X[:, None, ..., None], r"\(N, H, W\).*got shape \(16, 1, 8, 8, 1\)"),
    "features": (FEATURES, r"takes images.*got features"),
}


@pytest.mark.parametrize("case", BAD_SHAPES)
def test_images_the_network_cannot_take(cl, case):
    x, match = BAD_SHAPES[case]
    with pytest.raises(ArgumentError, match=match):
        fit(cl, x, Y)
    with pytest.raises(ArgumentError, match=match):
        cl.predict(cnn(cl), x)


def test_channels_first_images_are_caught_without_a_model(cl):
    """data_loader (and a network the course cannot read ahead) see the layout too."""
    with pytest.raises(ArgumentError, match=r"look channels-first.*x\[:, 0\]"):
        cl.data_loader((X[:, None], Y))
    with pytest.raises(ArgumentError, match=r"look channels-first.*transpose"):
        fit(cl, np.repeat(X[:, None], 3, axis=1), Y, _conv5(cl))


def test_channels_last_images_with_one_channel_are_fine(cl, no_warnings):
    assert cl.predict(cnn(cl), X[..., None]).shape == (N, 10)


@pytest.mark.parametrize(
    ("x", "model", "match"),
    [
        (X, lambda cl: cl.mlp(6, (4,), 10), r"takes features \(N, 6\), got images"),
        (FEATURES[:, :5], lambda cl: cl.mlp(6, (4,), 10), "takes 6 features per sample.*got 5"),
        (X[:, :4, :4], lambda cl: cl.mlp((8, 8), (4,), 10), r"(8x8|64 values).*4"),
    ],
    ids=["images for features", "5 features for 6", "4x4 for 8x8"],
)
def test_inputs_an_mlp_cannot_take(cl, x, model, match):
    with pytest.raises(ArgumentError, match=match):
        fit(cl, x, Y, model(cl))


def _conv5(cl):
    """A network the course cannot read ahead: a 5x5 convolution without padding."""
    if cl.FRAMEWORK == "torch":
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.conv, self.head = nn.Conv2d(1, 4, 5), nn.Linear(4, 10)

            def forward(self, x):
                return self.head(self.conv(x).mean(dim=(2, 3)))

        return Net()
    import keras

    layers = [keras.layers.Conv2D(4, 5), keras.layers.GlobalAveragePooling2D()]
    return keras.Sequential([keras.Input((None, None, 1)), *layers, keras.layers.Dense(10)])


def test_a_network_failing_on_the_inputs_is_a_course_error(cl):
    """Whatever the framework says is kept (chained), under a course error naming the shape."""
    with pytest.raises(ArgumentError, match=r"cannot take inputs of shape \(16, 4, 4\)") as info:
        fit(cl, X[:, :4, :4], Y, _conv5(cl))
    assert info.value.__cause__ is not None
    with pytest.raises(ArgumentError, match="cannot take inputs"):
        cl.predict(_conv5(cl), X[:, :4, :4])


def test_to_batch_says_how_to_get_n_h_w(cl):
    with pytest.raises(ArgumentError, match=r"channels-first.*images\[:, 0\]"):
        cl.to_batch(X[:, None])


# --------------------------------------------------------------------------- warnings
def test_raw_8bit_pixels_warn_and_still_train(cl):
    with pytest.warns(UserWarning, match=r"raw 8-bit pixels.*/ 255"):
        history = fit(cl, (X * 255).astype(np.uint8), Y)
    assert len(history) == 1


def test_huge_inputs_warn(cl):
    with pytest.warns(UserWarning, match="reach 1e\\+30"):
        cl.predict(cl.mlp(6, (4,), 10), planted(FEATURES, 1e30))


def test_the_warning_points_at_the_callers_line(cl):
    with pytest.warns(UserWarning) as record:
        cl.predict(cnn(cl), X * 255)
    assert record[0].filename == __file__


# --------------------------------------------------------------------------- meta-learning
@pytest.mark.parametrize("lr", [-0.01, 0.0, float("nan"), 1e6, "0.01", True], ids=repr)
def test_meta_helpers_check_the_rate_as_fit_does(cl, lr):
    tasks = data.sample_sinusoid_tasks(2, 3, seed=0)
    weights = cl.mlp_weights((1, 4, 1))
    with pytest.raises(ArgumentError, match="lr must be a positive learning rate"):
        cl.adaptation_curve(weights, tasks, lr=lr, steps=2)
    with pytest.raises(ArgumentError, match="lr must be a positive learning rate"):
        cl.adapted_predictions(weights, tasks, np.zeros(3), lr=lr, steps=(0, 1))


def test_adapted_predictions_checks_steps_and_task(cl):
    tasks = data.sample_sinusoid_tasks(2, 3, seed=0)
    weights = cl.mlp_weights((1, 4, 1))
    for steps, match in (((-1,), r"steps\[0\] must be a non-negative"), ((), "steps must list"),
                         (3, "steps must list")):  # fmt: skip
        with pytest.raises(ArgumentError, match=match):
            cl.adapted_predictions(weights, tasks, np.zeros(3), steps=steps)
    for task in (2, -1, 0.5):
        with pytest.raises(ArgumentError, match="task"):
            cl.adapted_predictions(weights, tasks, np.zeros(3), task=task)


def test_a_diverging_adaptation_warns(cl):
    tasks = data.sample_sinusoid_tasks(2, 5, seed=0)
    with pytest.warns(UserWarning, match=r"lr=9 makes the adaptation diverge.*lr=0\.9"):
        curve = cl.adaptation_curve(cl.mlp_weights((1, 8, 1)), tasks, lr=9.0, steps=4)
    assert not np.isfinite(curve[-1])


# --------------------------------------------------------------------------- multi-task
def _multi_head(cl, classes):
    if cl.FRAMEWORK == "torch":
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = cl.feature_extractor(cnn(cl, 1))
                self.heads = nn.ModuleDict({"a": nn.Linear(16, classes)})

            def forward(self, x):
                return {t: head(self.trunk(x)) for t, head in self.heads.items()}

        return Net()
    import keras

    x = keras.Input((8, 8, 1))
    return keras.Model(x, {"a": keras.layers.Dense(classes, name="a")(
        cl.feature_extractor(cnn(cl, 1))(x))})  # fmt: skip


def test_fit_multitask_checks_the_heads_against_the_classes(cl):
    four = MultiTaskData(X, {"a": Y % 4}, {"a": 4})
    with pytest.raises(ArgumentError, match=r"output 'a' gives 3 class scores.*4 classes"):
        cl.fit_multitask(_multi_head(cl, 3), four, steps=1, quiet=True)


def test_predict_multitask_checks_raw_images(cl):
    with pytest.raises(ArgumentError, match="images hold 1 NaN"):
        cl.predict_multitask(_multi_head(cl, 3), planted(X, np.nan))
    with pytest.raises(ArgumentError, match=r"channels-first.*images\[:, 0\]"):
        cl.predict_multitask(_multi_head(cl, 3), X[:, None])


@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        ((Y % 3) + 0.5, ArgumentTypeError, "not whole numbers"),
        ((Y % 3).astype(float), ArgumentTypeError, r"astype\(np\.int64\)"),
        (np.where(Y == 0, -2, Y % 3), ArgumentError, r">= 0, got \[-2\]"),
        (Y % 4, ArgumentError, r"\[3\].*outside 0\.\.2.*MISSING"),
    ],
    ids=["float", "whole float", "-2", "3 of 3"],
)
def test_multitask_data_checks_labels(labels, error, match):
    with pytest.raises(error, match=match):
        MultiTaskData(X, {"a": labels}, {"a": 3})
    assert MultiTaskData(X, {"a": np.where(Y == 0, MISSING, Y % 3)}, {"a": 3}).count("a") == 14


def test_multitask_data_checks_images():
    with pytest.raises(ArgumentError, match="images hold 1 Inf"):
        MultiTaskData(planted(X, np.inf), {"a": Y % 3}, {"a": 3})
    with pytest.raises(ArgumentError, match=r"images\[\.\.\., 0\]"):
        MultiTaskData(X[..., None], {"a": Y % 3}, {"a": 3})


# --------------------------------------------------------------------------- LabelledImages
@pytest.mark.parametrize(
    ("labels", "error", "match"),
    [
        (np.where(Y == 0, 10, Y), ArgumentError, r"toy labels \[10\].*names 10 classes"),
        (np.where(Y == 0, -1, Y), ArgumentError, r">= 0, got \[-1\]"),
        (Y + 0.5, ArgumentTypeError, "integer class indices"),
        (Y.astype(str), ArgumentTypeError, "strings"),
        (np.eye(10)[Y], ArgumentError, r"argmax\(axis=1\)"),
    ],
    ids=["10 of 10", "-1", "float", "string", "one-hot"],
)
def test_labelled_images_checks_labels_when_built(labels, error, match):
    with pytest.raises(error, match=match):
        LabelledImages("toy", X, labels, tuple("0123456789"))


def test_class_labels_accepts_what_is_right():
    labels = checks.class_labels("y", np.arange(5, dtype=np.int32), 5)
    assert labels.dtype == np.int64 and labels.tolist() == [0, 1, 2, 3, 4]
    assert checks.class_labels("y", np.zeros(0, dtype=int), 3).size == 0


def test_one_value_regression_targets_are_not_broadcast(cl):
    """Targets (N,) for a network with one output train as (N, 1): no (N, N) broadcasting."""
    losses = []
    for targets in (FEATURES[:, 0], FEATURES[:, :1]):
        config.seed_everything(0)
        history = fit(cl, FEATURES, targets, cl.mlp(6, (4,), 1), loss="mse", epochs=2)
        losses.append(history["loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)
