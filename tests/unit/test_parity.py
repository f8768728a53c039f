"""course_lib.torch and course_lib.keras offer the same public names with the same signatures.

A lesson cell must read the same in both frameworks, so a name or an argument that exists on one
side only is a bug — unless it is listed in DELIBERATE_DIFFERENCES with the reason.
"""

import inspect

import numpy as np
import pytest

# name -> why the two frameworks differ on purpose. Keep this the ONE place such exceptions live.
DELIBERATE_DIFFERENCES: dict[str, str] = {
    # (none yet: every public name and argument is mirrored)
}


def _packages():
    from course_lib import keras as ck
    from course_lib import torch as ct

    return ct, ck


def _public(module) -> dict[str, object]:
    return {
        name: getattr(module, name) for name in module.__all__ if name not in DELIBERATE_DIFFERENCES
    }


def _shape(obj) -> list[tuple[str, str, object]] | None:
    """Argument names, kinds and defaults; annotations may differ (torch vs Keras types)."""
    if not callable(obj):
        return None
    target = obj.__init__ if inspect.isclass(obj) else obj
    return [
        (p.name, p.kind.name, p.default if p.default is not inspect.Parameter.empty else "-")
        for p in inspect.signature(target).parameters.values()
    ]


def test_all_lists_every_public_callable_defined_in_the_package():
    for module in _packages():
        defined = {
            name
            for name, obj in vars(module).items()
            if not name.startswith("_")
            and callable(obj)
            and getattr(obj, "__module__", "").startswith("course_lib")
        }
        missing = defined - set(module.__all__)
        assert not missing, f"{module.__name__} defines {missing} but leaves them out of __all__"


def test_both_frameworks_export_the_same_names():
    ct, ck = _packages()
    only_torch = set(_public(ct)) - set(_public(ck))
    only_keras = set(_public(ck)) - set(_public(ct))
    assert not only_torch and not only_keras, (
        f"only in course_lib.torch: {sorted(only_torch)}; only in course_lib.keras: "
        f"{sorted(only_keras)} — mirror them or document why in DELIBERATE_DIFFERENCES"
    )


@pytest.mark.parametrize("name", sorted(_public(_packages()[0])))
def test_same_signature_in_both_frameworks(name):
    ct, ck = _packages()
    assert _shape(getattr(ct, name)) == _shape(getattr(ck, name)), (
        f"{name} takes different arguments in torch and keras"
    )


def test_documented_differences_are_real_differences():
    """Every entry must name something that exists and really differs: an exception for a
    name that is in fact mirrored (or gone) is stale and must go."""
    ct, ck = _packages()
    for name, reason in DELIBERATE_DIFFERENCES.items():
        assert reason.strip(), f"DELIBERATE_DIFFERENCES[{name!r}] gives no reason"
        in_torch, in_keras = name in ct.__all__, name in ck.__all__
        assert in_torch or in_keras, f"stale exception {name!r}: neither framework exports it"
        if in_torch and in_keras:
            assert _shape(getattr(ct, name)) != _shape(getattr(ck, name)), (
                f"stale exception {name!r}: it has the same signature in both frameworks"
            )


def test_the_signature_comparison_can_fail():
    """The comparison the parity tests rely on tells a mismatched pair apart."""

    def reference(model, data, *, epochs=1, lr=1e-3): ...

    def renamed(model, data, *, epochs=1, rate=1e-3): ...

    def other_default(model, data, *, epochs=2, lr=1e-3): ...

    def positional(model, data, epochs=1, lr=1e-3): ...

    def same(model, data, *, epochs=1, lr=1e-3) -> None: ...  # annotations may differ

    for mismatched in (renamed, other_default, positional):
        assert _shape(reference) != _shape(mismatched), mismatched.__name__
    assert _shape(reference) == _shape(same)


def test_parity_covers_a_real_api():
    assert len(_public(_packages()[0])) >= 15


# --- behaviour parity: the same inputs pass or fail alike in both frameworks ---------------------

BAD_COUNTS = [0, -1, 2.5, True, "10", None]
GOOD_COUNTS = [10, np.int64(10), np.int32(3)]


def _outcome(call):
    """``("ok", parameter count)`` or ``("error", exception class)``."""
    try:
        model = call()
    except Exception as err:  # the class is what is compared
        return "error", type(err)
    return "ok", _parameter_count(model)


def _parameter_count(model) -> int | None:
    """Weights plus BatchNorm statistics (variables in Keras, float buffers in PyTorch; the
    integer batch counter PyTorch keeps has no Keras twin); None for what is not a model."""
    if hasattr(model, "count_params"):  # Keras
        return int(model.count_params())
    if hasattr(model, "parameters"):
        buffers = [b for b in model.buffers() if b.is_floating_point()]
        return sum(p.numel() for p in model.parameters()) + sum(b.numel() for b in buffers)
    return None


def _same_outcome(make):
    ct, ck = _packages()
    torch_outcome, keras_outcome = _outcome(lambda: make(ct)), _outcome(lambda: make(ck))
    assert torch_outcome == keras_outcome, f"torch: {torch_outcome}, keras: {keras_outcome}"


@pytest.mark.parametrize("value", GOOD_COUNTS + BAD_COUNTS, ids=repr)
def test_small_cnn_accepts_and_rejects_alike(value):
    _same_outcome(lambda cl: cl.small_cnn(value, width=4))
    _same_outcome(lambda cl: cl.small_cnn(10, width=value))


@pytest.mark.parametrize("value", GOOD_COUNTS + BAD_COUNTS, ids=repr)
def test_mlp_accepts_and_rejects_alike(value):
    _same_outcome(lambda cl: cl.mlp(value, (8,), 2))
    _same_outcome(lambda cl: cl.mlp(4, (value, 8), 2))
    _same_outcome(lambda cl: cl.mlp(4, (8,), value))


@pytest.mark.parametrize("value", GOOD_COUNTS + BAD_COUNTS, ids=repr)
def test_imagenet_backbone_accepts_and_rejects_alike(value):
    _same_outcome(lambda cl: cl.imagenet_backbone(value, pretrained=False))


@pytest.mark.parametrize(
    "value", [0.0, 0.5, np.float32(0.2), 1.0, -0.1, "0.2", None, True], ids=repr
)
def test_imagenet_backbone_dropout_and_weights_alike(value):
    _same_outcome(lambda cl: cl.imagenet_backbone(10, pretrained=False, dropout=value))
    _same_outcome(lambda cl: cl.imagenet_backbone(10, pretrained=value))


@pytest.mark.parametrize("hidden", [(8, 8), [8], (), 8, "88", None, (8, 0)], ids=repr)
def test_mlp_hidden_alike(hidden):
    _same_outcome(lambda cl: cl.mlp(4, hidden, 2))


def test_good_models_have_the_same_parameter_count_in_both_frameworks():
    ct, ck = _packages()
    for make in (
        lambda cl: cl.mlp(np.int64(4), (np.int64(8), 8), 3, dropout=0.1),
        lambda cl: cl.mlp((8, 8), (16,), 10),
    ):
        assert _parameter_count(make(ct)) == _parameter_count(make(ck))
    torch_cnn, keras_cnn = ct.small_cnn(np.int64(10), width=4), ck.small_cnn(np.int64(10), width=4)
    trainable = sum(p.numel() for p in torch_cnn.parameters())
    keras_trainable = sum(int(np.prod(w.shape)) for w in keras_cnn.trainable_weights)
    assert trainable == keras_trainable


@pytest.mark.parametrize("value", [0, True, 2.5, "10", np.int64(0)], ids=repr)
def test_replace_head_rejects_alike(value):
    _same_outcome(lambda cl: cl.replace_head(cl.small_cnn(10, width=4), value))


def test_replace_head_accepts_numpy_integers_in_both():
    _same_outcome(lambda cl: cl.replace_head(cl.small_cnn(10, width=4), np.int64(3)))


def test_device_is_a_plain_string_in_both_frameworks():
    ct, ck = _packages()
    assert type(ct.device()) is str and type(ck.device()) is str
    assert ct.device() in {"cpu", "cuda"} and ck.device() in {"cpu", "gpu:0"}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0.0},
        {"lr": -1e-3},
        {"lr": 100.0},
        {"lr": True},
        {"lr": "1e-3"},
        {"lr": {}},
        {"epochs": 0},
        {"epochs": 1.5},
        {"epochs": True},
        {"batch_size": 0},
        {"weight_decay": -1.0, "optimizer": "adamw"},
        {"weight_decay": 1e-4},  # needs adamw
        {"optimizer": "rmsprop"},
        {"optimizer": 3},
        {"loss": "hinge"},
        {"label_smoothing": 1.0},
        {"penalty": "l2"},
        {"augment": 3},
        {"callbacks": [3]},
    ],
    ids=repr,
)
def test_fit_rejects_bad_arguments_alike(kwargs):
    from course_lib.data import load_digits

    digits = load_digits()
    data = digits.take(np.arange(40))
    _same_outcome(lambda cl: cl.fit(cl.small_cnn(10, width=4), data, quiet=True, **kwargs))


def test_fit_rejects_alike_when_nothing_is_trainable():
    from course_lib.data import load_digits

    data = load_digits().take(np.arange(40))

    def frozen_fit(cl):
        model = cl.small_cnn(10, width=4)
        cl.freeze(model)
        return cl.fit(model, data, quiet=True)

    _same_outcome(frozen_fit)


# --- bad data (issue 20): rejected alike, with the same course error class -----------------------

_R = np.random.default_rng(0)
_X = _R.random((16, 8, 8), dtype=np.float32)
_Y = np.arange(16) % 10


def _nan_images():
    x = _X.copy()
    x[3, 2, 2] = np.nan
    return x


BAD_DATA = {
    "NaN pixel": (_nan_images(), _Y),
    "label -1": (_X, np.where(_Y == 0, -1, _Y)),
    "label 10 of 10": (_X, np.where(_Y == 0, 10, _Y)),
    "float labels": (_X, _Y + 0.5),
    "whole float labels": (_X, _Y.astype(np.float32)),  # torch used to reject, Keras to accept
    "string labels": (_X, _Y.astype(str)),
    "one-hot labels": (_X, np.eye(10, dtype=np.float32)[_Y]),
    "labels (N, 1)": (_X, _Y[:, None]),
    "channels first": (_X[:, None], _Y),
    "3 channels": (np.repeat(_X[..., None], 3, axis=-1), _Y),
    "4x4 images": (_X[:, :4, :4], _Y),
}
GOOD_DATA = {
    "int32 labels": (_X, _Y.astype(np.int32)),
    "channels last": (_X[..., None], _Y),
}


def _rejected_alike(make):
    ct, ck = _packages()
    torch_outcome, keras_outcome = _outcome(lambda: make(ct)), _outcome(lambda: make(ck))
    assert torch_outcome == keras_outcome, f"torch: {torch_outcome}, keras: {keras_outcome}"
    from course_lib.errors import CourseError

    kind, error = torch_outcome
    assert kind == "error" and issubclass(error, CourseError), torch_outcome


@pytest.mark.parametrize("case", BAD_DATA)
def test_fit_and_evaluate_reject_bad_data_alike(case):
    x, y = BAD_DATA[case]
    _rejected_alike(lambda cl: cl.fit(cl.small_cnn(10, width=4), (x, y), quiet=True, batch_size=8))
    _rejected_alike(lambda cl: cl.evaluate(cl.small_cnn(10, width=4), (x, y)))


@pytest.mark.parametrize("case", GOOD_DATA)
def test_fit_accepts_good_data_alike(case):
    x, y = GOOD_DATA[case]
    _same_outcome(lambda cl: cl.fit(cl.small_cnn(10, width=4), (x, y), quiet=True, batch_size=8))


@pytest.mark.parametrize("lr", [-0.01, 0.0, float("nan"), 1e6, "0.01", 0.01], ids=repr)
def test_meta_helpers_accept_and_reject_rates_alike(lr):
    from course_lib import data

    tasks = data.sample_sinusoid_tasks(2, 3, seed=0)
    _same_outcome(lambda cl: cl.adaptation_curve(cl.mlp_weights((1, 4, 1)), tasks, lr, 2))
    _same_outcome(
        lambda cl: cl.adapted_predictions(cl.mlp_weights((1, 4, 1)), tasks, np.zeros(3), lr)
    )
