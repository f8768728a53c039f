"""Meta-learning helpers (lesson 04): the neutral outer loop and tables, and the mirrored
per-task MLP of both frameworks."""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import data, plots
from course_lib.data.types import LabelledImages
from course_lib.meta import (
    PAPER_MSE_K5,
    MetaHistory,
    adaptation_table,
    episode_accuracies,
    episode_table,
    mean_ci95,
    meta_train,
)


def _numpy(w):
    return w.detach().numpy() if hasattr(w, "detach") else np.asarray(w)


def _toy(n_classes=6, per_class=4):
    labels = np.repeat(np.arange(n_classes), per_class)
    images = np.zeros((len(labels), 5, 5), np.float32) + labels[:, None, None]
    return LabelledImages("toy", images, labels, tuple(map(str, range(n_classes))))


# ---- framework-neutral -------------------------------------------------------------------


def test_meta_train_records_every_iteration_from_one_seeded_stream():
    seen = []
    history = meta_train(lambda batch: batch, lambda rng: rng.random(), 7, seed=3, quiet=True)
    again = meta_train(lambda batch: seen.append(batch) or batch, lambda rng: rng.random(), 7,
                       seed=3, quiet=True)
    assert history.iterations == 7 and history.losses == again.losses == seen
    assert history.wall_s >= 0
    assert meta_train(lambda b: b, lambda rng: rng.random(), 7, seed=4, quiet=True).losses != seen


@pytest.mark.parametrize(
    ("step", "sample", "iterations", "match"),
    [(lambda b: 0, lambda r: 0, 0, "iterations"), ("x", lambda r: 0, 3, "step must be a function"),
     (lambda b: 0, None, 3, "sample must be a function")],
)
def test_meta_train_bad_arguments(step, sample, iterations, match):
    with pytest.raises((ValueError, TypeError), match=match):
        meta_train(step, sample, iterations, quiet=True)


def test_history_smoothing_is_a_running_mean():
    h = MetaHistory(losses=[1.0, 3.0, 5.0, 7.0])
    assert np.allclose(h.smoothed(2), [2.0, 4.0, 6.0])
    assert np.allclose(h.smoothed(100), [4.0])  # the window shrinks to the history


def test_adaptation_table_rows_and_reference():
    table = adaptation_table({"MAML": np.linspace(3, 0.3, 11)}, reference=PAPER_MSE_K5)
    lines = table.splitlines()
    assert lines[0].split()[-4:] == ["0", "1", "5", "10"]
    assert lines[1].split()[-1] == "0.300" and lines[1].startswith("MAML")
    assert "0.35" in lines[2] and "–" in lines[2]  # the paper gives no 0-step number
    with pytest.raises(ValueError, match="evaluate at least 10"):
        adaptation_table({"short": [1.0, 0.5]})
    with pytest.raises(ValueError, match="empty"):
        adaptation_table({})


def test_episodes_know_where_their_images_are():
    toy = _toy()
    ep = data.EpisodeSampler(toy, 3, 2, 1, seed=0).sample()
    assert np.array_equal(toy.images[ep.support_idx], ep.support_x)
    assert np.array_equal(toy.images[ep.query_idx], ep.query_x)
    assert np.array_equal(toy.labels[ep.query_idx], ep.classes[ep.query_y])


def test_episode_accuracies_score_each_episode():
    sampler = data.EpisodeSampler(_toy(), 3, 1, 2, seed=0)
    perfect = episode_accuracies(lambda ep: ep.query_y, sampler, 5, quiet=True)
    assert perfect.shape == (5,) and np.all(perfect == 1.0)
    wrong = episode_accuracies(lambda ep: (ep.query_y + 1) % 3, sampler, 4, quiet=True)
    assert np.all(wrong == 0.0)
    with pytest.raises(ValueError, match="one label per query image"):
        episode_accuracies(lambda ep: ep.query_y[:1], sampler, 1, quiet=True)
    with pytest.raises(TypeError, match="EpisodeSampler"):
        episode_accuracies(lambda ep: ep.query_y, [sampler], 1, quiet=True)


def test_mean_ci95_and_episode_table():
    mean, ci = mean_ci95([0.0, 1.0] * 50)
    assert mean == pytest.approx(0.5) and ci == pytest.approx(1.96 * 0.50252 / 10, rel=1e-3)
    with pytest.raises(ValueError, match="at least 2"):
        mean_ci95([0.9])
    table = episode_table({"proto": {"1-shot": [0.9, 1.0], "5-shot": [1.0, 1.0]},
                           "maml": {"1-shot": [0.5, 0.7]}})
    assert "1-shot" in table.splitlines()[0] and "95.0 ± 9.8" in table
    assert table.splitlines()[2].rstrip().endswith("–")  # maml has no 5-shot numbers
    with pytest.raises(ValueError, match="empty"):
        episode_table({})


def test_meta_plots_draw_and_reject_empty_input():
    tasks = data.sample_sinusoid_tasks(3, 5, 10, seed=0)
    grid = np.linspace(-5, 5, 20)
    figs = [
        plots.plot_adaptation_curves({"MAML": np.linspace(3, 0.3, 11)}, reference=PAPER_MSE_K5),
        plots.plot_sinusoid_adaptation(tasks, {"MAML": {0: grid * 0, 1: grid}}, grid),
        plots.plot_episode_accuracies({"a": {"1-shot": [0.9, 1.0]}, "b": {"1-shot": [0.5, 0.6]}}),
    ]
    assert all(isinstance(f, plt.Figure) for f in figs)
    plt.close("all")
    for fn, arg in ((plots.plot_adaptation_curves, {}), (plots.plot_episode_accuracies, {})):
        with pytest.raises(ValueError, match="empty"):
            fn(arg)


# ---- both frameworks -----------------------------------------------------------------------


def test_mlp_weights_and_per_task_copies(cl):
    weights = cl.mlp_weights((1, 40, 40, 1))
    assert [tuple(w.shape) for w in weights] == [(1, 40), (40,), (40, 40), (40,), (40, 1), (1,)]
    copies = cl.per_task(weights, 7)
    assert [tuple(w.shape) for w in copies] == [(7, *w.shape) for w in weights]
    for sizes in ((1,), 40, (1, 0, 1), "1-40-1"):
        with pytest.raises(ValueError, match="sizes"):
            cl.mlp_weights(sizes)


def test_task_losses_are_per_task_and_check_their_inputs(cl):
    tasks = data.sample_sinusoid_tasks(4, 5, 10, seed=0)
    xs, ys, xq, _ = cl.sinusoid_tensors(tasks)
    weights = cl.mlp_weights()
    losses = _numpy(cl.task_losses(cl.per_task(weights, 4), xs, ys))
    assert losses.shape == (4,) and np.all(losses > 0)
    out = _numpy(cl.batched_forward(cl.per_task(weights, 4), xq))
    assert out.shape == (4, 10, 1)
    with pytest.raises(ValueError, match="per_task"):
        cl.task_losses(weights, xs, ys)  # no task axis
    with pytest.raises(TypeError, match="sample_sinusoid_tasks"):
        cl.sinusoid_tensors((xs, ys))


def test_both_frameworks_compute_the_same_network():
    import torch

    from course_lib import keras as clk
    from course_lib import torch as clt

    tasks = data.sample_sinusoid_tasks(3, 5, 10, seed=1)
    kw, tw = clk.mlp_weights(), clt.mlp_weights()
    with torch.no_grad():
        for t, k in zip(tw, kw, strict=True):
            t.copy_(torch.from_numpy(np.asarray(k)))
    k_out = _numpy(clk.batched_forward(clk.per_task(kw, 3), clk.sinusoid_tensors(tasks)[2]))
    t_out = _numpy(clt.batched_forward(clt.per_task(tw, 3), clt.sinusoid_tensors(tasks)[2]))
    assert np.allclose(k_out, t_out, atol=1e-5)
    k_curve = clk.adaptation_curve(kw, tasks, 0.01, 3)
    t_curve = clt.adaptation_curve(tw, tasks, 0.01, 3)
    assert np.allclose(k_curve, t_curve, rtol=1e-4)


def test_adaptation_lowers_the_error_of_a_fitted_task(cl):
    from course_lib import config

    config.seed_everything(0)  # the initial weights, whatever ran before in this process
    tasks = data.sample_sinusoid_tasks(20, 10, 50, seed=2)
    # lr 0.003: lowers the error at every step checked for 4 seeds in both frameworks (at 0.01
    # the tenth step overshoots back above the start for some initial weights)
    curve = cl.adaptation_curve(cl.mlp_weights(), tasks, 0.003, 10)
    assert curve.shape == (11,) and curve[1] < curve[0] and curve[10] < curve[0]
    with pytest.raises(ValueError, match="steps"):
        cl.adaptation_curve(cl.mlp_weights(), tasks, 0.01, 0)


def test_adapted_predictions_one_curve_per_step_count(cl):
    tasks = data.sample_sinusoid_tasks(2, 5, 10, seed=0)
    grid = np.linspace(-5, 5, 30)
    preds = cl.adapted_predictions(cl.mlp_weights(), tasks, grid, 0.01, steps=(0, 1, 10))
    assert sorted(preds) == [0, 1, 10] and all(p.shape == (30,) for p in preds.values())
    assert not np.allclose(preds[0], preds[10])
    with pytest.raises(ValueError, match=r"task must be in 0\.\.1"):
        cl.adapted_predictions(cl.mlp_weights(), tasks, grid, task=2)


def test_a_second_order_maml_step_learns_torch():
    """Repeating MAML's meta-update on one task batch lowers its post-adaptation query loss."""
    import torch

    from course_lib import config
    from course_lib import torch as cl

    config.seed_everything(0)  # the initial weights, whatever ran before in this process
    tasks = data.sample_sinusoid_tasks(10, 5, 10, seed=0)
    xs, ys, xq, yq = cl.sinusoid_tensors(tasks)
    weights = cl.mlp_weights()
    opt = torch.optim.Adam(weights, lr=1e-2)

    def query_loss():
        fast = cl.per_task(weights, 10)
        grads = torch.autograd.grad(cl.task_losses(fast, xs, ys).sum(), fast, create_graph=True)
        fast = [w - 0.01 * g for w, g in zip(fast, grads, strict=True)]
        return cl.task_losses(fast, xq, yq).mean()

    before = query_loss().item()
    for _ in range(60):
        opt.zero_grad()
        query_loss().backward()
        opt.step()
    after = query_loss().item()
    assert after < 0.7 * before, (after, before)


def test_a_second_order_maml_step_learns_keras():
    import keras
    import tensorflow as tf

    from course_lib import config
    from course_lib import keras as cl

    config.seed_everything(0)  # the initial weights, whatever ran before in this process
    tasks = data.sample_sinusoid_tasks(10, 5, 10, seed=0)
    xs, ys, xq, yq = cl.sinusoid_tensors(tasks)
    weights = cl.mlp_weights()
    opt = keras.optimizers.Adam(1e-2)

    def query_loss():
        fast = cl.per_task(weights, 10)
        with tf.GradientTape() as inner:
            inner.watch(fast)
            loss = tf.reduce_sum(cl.task_losses(fast, xs, ys))
        fast = [w - 0.01 * g for w, g in zip(fast, inner.gradient(loss, fast), strict=True)]
        return tf.reduce_mean(cl.task_losses(fast, xq, yq))

    before = float(query_loss())
    for _ in range(60):
        with tf.GradientTape() as outer:
            loss = query_loss()
        opt.apply_gradients(zip(outer.gradient(loss, weights), weights, strict=True))
    after = float(query_loss())
    assert after < 0.7 * before, (after, before)
