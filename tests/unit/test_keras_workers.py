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
