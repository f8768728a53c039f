"""course_lib.keras.workers: models of one structure share a traced worker, and nothing leaks."""

import numpy as np
import pytest

from course_lib import config
from course_lib.data import load_digits

keras = pytest.importorskip("keras")
cl = pytest.importorskip("course_lib.keras")
from course_lib.keras import workers  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    order = np.random.default_rng(1).permutation(len(d.labels))
    return d.take(order[:200]), d.take(order[200:400])


def _fresh(seed=0, dropout=False):
    config.seed_everything(seed)
    if dropout:  # random masks: their seed state must travel with the model
        return keras.Sequential(
            [
                keras.Input((64,)),
                keras.layers.Dense(32, activation="relu"),
                keras.layers.Dropout(0.5),
                keras.layers.Dense(10),
            ]
        )
    return cl.small_cnn(10, width=8)


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_fresh_models_of_one_structure_share_a_key_and_others_do_not():
    a, b = _fresh(0), _fresh(1)
    assert workers.structure_key(a) == workers.structure_key(b)
    assert workers.structure_key(a) != workers.structure_key(cl.small_cnn(10, width=16))
    assert workers.structure_key(a) != workers.structure_key(cl.small_cnn(7, width=8))
    frozen = _fresh(0)
    cl.freeze(frozen, up_to="block2")
    assert workers.structure_key(a) != workers.structure_key(frozen)  # trainable flags count


def test_fits_of_fresh_models_reuse_one_worker(digits):
    train, _ = digits
    workers.clear()
    cl.fit(_fresh(0), train, epochs=2, lr=1e-2, quiet=True)
    trained = set(map(id, workers._workers.values()))
    cl.fit(_fresh(1), train, epochs=2, lr=3e-3, quiet=True)
    assert set(map(id, workers._workers.values())) == trained  # no new worker, no new trace


def test_a_shared_worker_leaks_nothing_between_fits(digits):
    """Same seed, same result, whatever ran on the worker in between (optimizer state reset,
    weights, statistics and dropout seeds copied in)."""
    train, _ = digits
    for dropout in (False, True):
        data = (train.images.reshape(len(train), -1), train.labels) if dropout else train
        first = _fresh(0, dropout)
        first_history = cl.fit(first, data, epochs=2, lr=1e-2, seed=0, quiet=True)
        other = _fresh(5, dropout)
        cl.fit(other, data, epochs=3, lr=3e-2, seed=5, quiet=True)  # same worker, other state
        again = _fresh(0, dropout)
        again_history = cl.fit(again, data, epochs=2, lr=1e-2, seed=0, quiet=True)
        assert again_history["loss"] == pytest.approx(first_history["loss"], rel=1e-6)
        for w1, w2 in zip(_weights(first), _weights(again), strict=True):
            np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)


def test_the_callers_model_gets_the_trained_weights_and_callbacks_see_them(digits):
    train, val = digits
    model = _fresh(0)
    before = _weights(model)
    seen = []

    def watch(epoch, logs):
        seen.append(_weights(model)[0].copy())
        return False

    history = cl.fit(model, train, val, epochs=3, lr=1e-2, quiet=True, callbacks=[watch])
    assert not np.allclose(_weights(model)[0], before[0])  # the model itself trained
    assert not np.allclose(seen[0], seen[-1])  # the callback saw it change epoch by epoch
    assert cl.evaluate(model, val)["accuracy"] == pytest.approx(history["val_accuracy"][-1])


def test_evaluate_shares_a_worker_but_uses_each_models_weights(digits):
    train, val = digits
    trained = _fresh(0)
    cl.fit(trained, train, epochs=5, lr=1e-2, quiet=True)
    cl.recalibrate_batchnorm(trained, train)  # a few steps: statistics lag the weights
    untrained = _fresh(0)
    good, bad = cl.evaluate(trained, val), cl.evaluate(untrained, val)
    assert good["accuracy"] > bad["accuracy"] + 0.2
    assert cl.evaluate(trained, val) == good


def test_the_worker_cache_is_bounded(digits):
    train, _ = digits
    workers.clear()
    for width in range(4, 4 + workers.MAX_WORKERS + 3):
        cl.evaluate(cl.small_cnn(10, width=width), train)
    assert len(workers._workers) == workers.MAX_WORKERS


# --- one frozen options record is both what compiles and the cache key --------------------------

# fit's parameters that cannot change the compiled train step, each with the reason. Every other
# parameter of fit must be a field of FitOptions (the record that compiles the step and keys the
# worker cache): a new fit option lands on one list or the other, or the test below fails.
NOT_STEP_SHAPING: dict[str, str] = {
    "model": "the model itself: its structure (and trainable flags) is the other half of the key",
    "train": "data: fed to the step, not compiled into it",
    "val": "data: evaluated after each epoch with the inference worker",
    "epochs": "a loop count; its one effect on the step is FitOptions.eager (few steps: eager)",
    "lr": "rates are optimizer variables, reset by every fit (workers.reset_optimizer); the "
    "shape of a per-block dict (which blocks) is FitOptions.blocks",
    "batch_size": "the data pipeline's batch size (the step takes any batch shape)",
    "seed": "the shuffling order of the data pipeline",
    "callbacks": "Python called between epochs, outside the step",
    "quiet": "the progress bar",
    "augment": "a tf.data map in the input pipeline, before the step",
}


def test_every_fit_parameter_is_an_option_or_listed_as_not_shaping_the_step():
    import dataclasses
    import inspect

    from course_lib.keras.training import FitOptions

    parameters = set(inspect.signature(cl.fit).parameters)
    fields = {f.name for f in dataclasses.fields(FitOptions)}
    unaccounted = parameters - fields - set(NOT_STEP_SHAPING)
    assert not unaccounted, (
        f"fit parameters {sorted(unaccounted)} are neither FitOptions fields nor listed in "
        "NOT_STEP_SHAPING: if one changes the compiled step, make it a field of FitOptions "
        "(it is then part of the worker cache key); otherwise list it with the reason"
    )
    assert not set(NOT_STEP_SHAPING) & fields, "a FitOptions field is also listed as not shaping"
    stale = set(NOT_STEP_SHAPING) - parameters
    assert not stale, f"NOT_STEP_SHAPING lists {sorted(stale)}, which fit does not take"
    assert dataclasses.is_dataclass(FitOptions) and FitOptions.__dataclass_params__.frozen


def _fit_keys(model_seed, data, **options):
    """The worker-cache keys a fit added (a small fit: eager, no trace)."""
    before = set(workers._workers)
    cl.fit(_fresh(model_seed), data, epochs=1, batch_size=50, quiet=True, **options)
    return set(workers._workers) - before


@pytest.mark.parametrize(
    "options",
    [
        {"label_smoothing": 0.1},
        {"optimizer": "sgd"},
        {"optimizer": "adamw", "weight_decay": 1e-4},
        {"lr": {"block1": 1e-3, "block2": 1e-3, "block3": 1e-3, "block4": 1e-3, "head": 1e-3}},
    ],
)
def test_an_option_gets_its_own_worker_and_the_same_options_reuse_it(digits, options):
    from course_lib.keras.training import FitOptions

    train, _ = digits
    workers.clear()
    (plain,) = _fit_keys(0, train)
    (other,) = _fit_keys(0, train, **options)  # differs in one option: a worker of its own
    assert plain != other and plain[0] == other[0]  # same structure, other options
    assert isinstance(other[1], FitOptions)
    assert not _fit_keys(1, train, **options)  # the same options again: reused
    assert not _fit_keys(2, train, lr=3e-3)  # another rate is not another step
    assert set(workers._workers) == {plain, other}


def test_penalty_and_own_optimizer_objects_never_enter_the_cache(digits):
    train, _ = digits
    workers.clear()
    assert not _fit_keys(0, train, penalty=lambda model: 0.0)
    assert not _fit_keys(0, train, optimizer=keras.optimizers.Adam(1e-3))
