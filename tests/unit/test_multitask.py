"""course_lib.multitask and both frameworks' fit_multitask (lesson 05)."""

from __future__ import annotations

import numpy as np
import pytest

from course_lib import data
from course_lib.errors import UnknownNameError
from course_lib.multitask import (
    MISSING,
    MultiTaskData,
    MultiTaskTable,
    check_loss_weights,
    glyph_tasks,
    glyph_tasks_with_val,
    task_accuracies,
    task_batches,
)


@pytest.fixture(scope="module")
def glyphs():
    return data.load_glyphs("smoke", progress=False)  # 4 images per character


@pytest.fixture(scope="module")
def split(glyphs):
    return glyph_tasks(glyphs, new_chars=10, new_k=1, source_chars=20, source_k=2,
                       test_per_char=2, seed=0)  # fmt: skip


def toy(n=12, labelled_a=4):
    """12 random images; task a labelled on the first `labelled_a`, task b on all."""
    r = np.random.default_rng(0)
    a = np.full(n, MISSING)
    a[:labelled_a] = np.arange(labelled_a) % 3
    return MultiTaskData(
        r.random((n, 28, 28), dtype=np.float32), {"a": a, "b": np.arange(n) % 2}, {"a": 3, "b": 2}
    )


# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------
def test_multitask_data_rejects_bad_labels():
    images = np.zeros((4, 28, 28), dtype=np.float32)
    with pytest.raises(ValueError, match="one label per image"):
        MultiTaskData(images, {"a": np.zeros(3, dtype=int)}, {"a": 2})
    with pytest.raises(ValueError, match=r"outside 0\.\.1"):
        MultiTaskData(images, {"a": np.array([0, 1, 2, MISSING])}, {"a": 2})
    with pytest.raises(ValueError, match="num_classes has"):
        MultiTaskData(images, {"a": np.zeros(4, dtype=int)}, {"b": 2})
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        MultiTaskData(np.zeros((4, 28)), {"a": np.zeros(4, dtype=int)}, {"a": 2})


def test_only_keeps_the_images_labelled_for_the_kept_tasks():
    d = toy()
    a = d.only("a")
    assert a.tasks == ("a",) and len(a) == 4 and a.count("a") == 4
    assert len(d.only(["a", "b"])) == 12
    with pytest.raises(UnknownNameError, match="tasks a, b"):
        d.only("c")
    task = d.task_images("a")
    assert task.num_classes == 3 and len(task) == 4


def test_glyph_tasks_build_three_tasks_with_disjoint_images(glyphs, split):
    train, test = split
    assert train.tasks == ("new", "source", "alphabet")
    assert train.count("new") == 10 * 1 and train.count("source") == 20 * 2
    assert train.count("alphabet") == len(train)  # every image knows its alphabet
    assert test.count("new") == 20 and test.count("source") == 40
    # every image is labelled for exactly one of new / source
    both = (train.labels["new"] != MISSING).astype(int) + (train.labels["source"] != MISSING)
    assert np.all(both == 1)
    # new characters come from the held-out alphabets, source characters from the others
    target = set(data.glyph_split(glyphs).target)
    new_alphabets = {train.class_names["alphabet"][a] for a in
                     train.labels["alphabet"][train.labelled("new")]}  # fmt: skip
    source_alphabets = {train.class_names["alphabet"][a] for a in
                        train.labels["alphabet"][train.labelled("source")]}  # fmt: skip
    assert new_alphabets <= target and not source_alphabets & target
    # no test image is a training image
    train_rows = {im.tobytes() for im in train.images}
    assert not any(im.tobytes() in train_rows for im in test.images)


def test_glyph_tasks_are_seeded_and_check_their_sizes(glyphs, split):
    again = glyph_tasks(glyphs, new_chars=10, new_k=1, source_chars=20, source_k=2,
                        test_per_char=2, seed=0)  # fmt: skip
    other = glyph_tasks(glyphs, new_chars=10, new_k=1, source_chars=20, source_k=2,
                        test_per_char=2, seed=1)  # fmt: skip
    assert np.array_equal(again[0].images, split[0].images)
    assert not np.array_equal(other[0].images, split[0].images)
    with pytest.raises(ValueError, match="training \\+ 2 test images per character"):
        glyph_tasks(glyphs, new_chars=10, new_k=3, source_chars=20, source_k=2, test_per_char=2)
    with pytest.raises(ValueError, match="new_chars=100000"):
        glyph_tasks(glyphs, new_chars=100_000, new_k=1, source_chars=2, source_k=1, test_per_char=1)
    with pytest.raises(ValueError, match="positive integer"):
        glyph_tasks(glyphs, new_chars=0, new_k=1, source_chars=2, source_k=1)


def test_glyph_tasks_with_val_adds_new_task_images_and_keeps_train_and_test(glyphs, split):
    train, val, test = glyph_tasks_with_val(glyphs, new_chars=10, new_k=1, source_chars=20,
                                            source_k=2, val_per_char=1, test_per_char=2,
                                            seed=0)  # fmt: skip
    assert np.array_equal(train.images, split[0].images)
    assert np.array_equal(test.images, split[1].images)
    assert val.tasks == ("new", "alphabet") and val.count("new") == 10 == len(val)
    seen = {im.tobytes() for im in np.concatenate([train.images, test.images])}
    assert not any(im.tobytes() in seen for im in val.images)
    with pytest.raises(ValueError, match=r"1 training \+ 2 test \+ 2 validation"):
        glyph_tasks_with_val(glyphs, new_chars=10, new_k=1, source_chars=20, source_k=2,
                             val_per_char=2, test_per_char=2)  # fmt: skip
    with pytest.raises(ValueError, match="val_per_char"):
        glyph_tasks_with_val(glyphs, new_chars=10, new_k=1, source_chars=20, source_k=2,
                             val_per_char=0, test_per_char=2)  # fmt: skip


def test_task_batches_give_each_sparse_task_its_own_images():
    d = toy(n=40, labelled_a=6)
    d = MultiTaskData(d.images, {**d.labels, "c": np.where(np.arange(40) >= 6, 1, MISSING)},
                      {**d.num_classes, "c": 2})  # fmt: skip
    batches = list(task_batches(d, batch_size=4, steps=5, seed=3))
    assert len(batches) == 5
    for b in batches:
        assert len(b) == 8  # 4 for a, 4 for c; b (labelled on all) adds none
        assert np.all(d.labels["a"][b[:4]] != MISSING) and np.all(d.labels["c"][b[4:]] != MISSING)
    again = list(task_batches(d, batch_size=4, steps=5, seed=3))
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))
    # only dense tasks: plain batches over every image; a small pool gives all it has
    assert len(next(task_batches(d.only("b"), batch_size=4, steps=1))) == 4
    assert len(next(task_batches(d.only("a"), batch_size=32, steps=1))) == 6


def test_task_accuracies_count_only_labelled_images():
    d = toy()
    logits = {"a": np.eye(3)[np.where(d.labels["a"] == MISSING, 0, d.labels["a"])],
              "b": np.zeros((12, 2))}  # fmt: skip
    acc = task_accuracies(logits, d)
    assert acc["a"] == 1.0 and acc["b"] == 0.5
    with pytest.raises(ValueError, match="expected \\(12, 3\\)"):
        task_accuracies({"a": np.zeros((12, 2))}, d)


def test_multitask_table_means_gains_and_metrics():
    table = MultiTaskTable(("new", "source"))
    for seed, (single, multi) in enumerate([(0.40, 0.50), (0.44, 0.56)]):
        table.add("single-task", seed, new=single, source=0.7)
        table.add("multi-task, equal weights", seed, new=multi)
    assert table.mean("single-task", "new") == pytest.approx(42.0)
    assert table.std("single-task", "source") == pytest.approx(0.0)
    assert table.gain("multi-task, equal weights", "single-task", "new") == pytest.approx(11.0)
    text = table.table()
    assert "42.0 ±  2.8" in text and "–" in text and "2 seed(s)" in text
    metrics = table.as_metrics()
    assert metrics["multi_task_equal_weights_new"] == pytest.approx(0.53)
    assert "multi_task_equal_weights_source" not in metrics
    with pytest.raises(UnknownNameError, match="new, source"):
        table.add("x", 0, alphabet=0.1)
    with pytest.raises(UnknownNameError, match="no accuracy for task 'source'"):
        table.mean("multi-task, equal weights", "source")


def test_loss_weights_are_checked():
    assert check_loss_weights(("a", "b"), None, None) == {"a": 1.0, "b": 1.0}
    assert check_loss_weights(("a", "b"), {"b": 0.5}, None) == {"a": 1.0, "b": 0.5}
    with pytest.raises(UnknownNameError, match="unknown task"):
        check_loss_weights(("a",), {"z": 1.0}, None)
    with pytest.raises(ValueError, match=">= 0"):
        check_loss_weights(("a",), {"a": -1}, None)
    with pytest.raises(ValueError, match="not both"):
        check_loss_weights(("a",), {"a": 1.0}, lambda losses: 0)
    with pytest.raises(TypeError, match="callable"):
        check_loss_weights(("a",), None, 3)


# ---------------------------------------------------------------------------------------------
# fit_multitask in both frameworks
# ---------------------------------------------------------------------------------------------
def multi_head(cl, num_classes, width=4):
    """The lesson's network: a small-CNN trunk and one linear head per task."""
    if cl.FRAMEWORK == "torch":
        from torch import nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = cl.feature_extractor(cl.small_cnn(1, width=width))
                self.heads = nn.ModuleDict(
                    {t: nn.Linear(4 * width, n) for t, n in num_classes.items()}
                )

            def forward(self, x):
                f = self.trunk(x)
                return {t: h(f) for t, h in self.heads.items()}

        return Net()
    import keras

    trunk = cl.feature_extractor(cl.small_cnn(1, width=width))
    x = keras.Input((28, 28, 1))
    f = trunk(x)
    return keras.Model(x, {t: keras.layers.Dense(n, name=t)(f) for t, n in num_classes.items()})


def weighting_for(cl, tasks):
    """A learned weight per task (uncertainty weighting), as the lesson writes it."""
    if cl.FRAMEWORK == "torch":
        import torch
        from torch import nn

        class Weighting(nn.Module):
            def __init__(self):
                super().__init__()
                self.s = nn.ParameterDict({t: nn.Parameter(torch.zeros(())) for t in tasks})

            def forward(self, losses):
                return sum(torch.exp(-self.s[t]) * v + self.s[t] / 2 for t, v in losses.items())

            def task_weights(self):
                return {t: float(torch.exp(-s.detach())) for t, s in self.s.items()}

        return Weighting()
    import keras

    class Weighting(keras.layers.Layer):
        def __init__(self):
            super().__init__()
            self.s = {t: self.add_weight(shape=(), initializer="zeros", name=t) for t in tasks}

        def call(self, losses):
            return sum(keras.ops.exp(-self.s[t]) * v + self.s[t] / 2 for t, v in losses.items())

        def task_weights(self):
            return {t: float(keras.ops.exp(-s)) for t, s in self.s.items()}

    return Weighting()


def test_fit_multitask_learns_every_task_and_logs_per_task(cl, split):
    from course_lib import config

    train, test = split
    config.seed_everything(0)
    net = multi_head(cl, dict(train.num_classes))
    before = cl.evaluate_multitask(net, train)
    history = cl.fit_multitask(net, train, test, steps=30, lr=3e-3, batch_size=16, log_every=10,
                               quiet=True)  # fmt: skip
    assert len(history) == 3 and history["step"] == [10.0, 20.0, 30.0]
    for task in train.tasks:
        assert history[f"loss_{task}"][-1] < history[f"loss_{task}"][0]
        assert 0.0 <= history[f"val_{task}"][-1] <= 1.0
    after = cl.evaluate_multitask(net, train)
    assert after["source"] > before["source"]  # (Keras' BatchNorm statistics move slowly)
    logits = cl.predict_multitask(net, test)
    assert {t: v.shape for t, v in logits.items()} == {
        t: (len(test), test.num_classes[t]) for t in test.tasks
    }


def test_fit_multitask_is_seeded(cl, split):
    from course_lib import config

    train, _ = split
    runs = []
    for _ in range(2):
        config.seed_everything(1)
        net = multi_head(cl, {"new": train.num_classes["new"]})
        cl.fit_multitask(net, train.only("new"), steps=5, quiet=True, seed=1)
        runs.append(cl.predict_multitask(net, train.images[:8])["new"])
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-5, atol=1e-6)


def test_fit_multitask_trains_a_learned_weighting(cl, split):
    from course_lib import config

    train, _ = split
    config.seed_everything(0)
    net = multi_head(cl, dict(train.num_classes))
    weighting = weighting_for(cl, train.tasks)
    history = cl.fit_multitask(net, train, steps=20, lr=1e-2, weighting=weighting, log_every=10,
                               quiet=True)  # fmt: skip
    weights = weighting.task_weights()
    assert all(w != pytest.approx(1.0, abs=1e-4) for w in weights.values())
    assert history["weight_source"][-1] == pytest.approx(weights["source"])
    # the hardest task (most classes, largest loss) gets the smallest weight
    assert weights["source"] < weights["new"]


def test_fit_multitask_static_weights_change_the_training(cl, split):
    from course_lib import config

    train, _ = split
    out = []
    for weights in ({"new": 1.0, "source": 1.0, "alphabet": 1.0},
                    {"new": 1.0, "source": 0.0, "alphabet": 0.0}):  # fmt: skip
        config.seed_everything(0)
        net = multi_head(cl, dict(train.num_classes))
        h = cl.fit_multitask(net, train, steps=8, loss_weights=weights, log_every=8, quiet=True)
        out.append(h.last)
    # with weight 0 the source head gets no gradient: its loss stays where it started
    assert out[1]["loss_source"] > out[0]["loss_source"]
    assert out[1]["loss"] == pytest.approx(out[1]["loss_new"], rel=1e-4)


def test_fit_multitask_errors_say_what_to_fix(cl, split):
    train, _ = split
    with pytest.raises(TypeError, match="MultiTaskData"):
        cl.fit_multitask(multi_head(cl, {"new": 10}), (train.images, train.labels["new"]),
                         steps=1)  # fmt: skip
    with pytest.raises(ValueError, match="no output for task"):
        cl.fit_multitask(multi_head(cl, {"new": 10}), train, steps=1, quiet=True)
    with pytest.raises(ValueError, match="positive learning rate"):
        cl.fit_multitask(multi_head(cl, {"new": 10}), train.only("new"), steps=1, lr=-1.0)
    with pytest.raises(ValueError, match="steps must be a positive integer"):
        cl.fit_multitask(multi_head(cl, {"new": 10}), train.only("new"), steps=0)
    with pytest.raises(ValueError, match="not both"):
        cl.fit_multitask(multi_head(cl, dict(train.num_classes)), train, steps=1,
                         loss_weights={"new": 1.0}, weighting=lambda losses: 0)  # fmt: skip
    if cl.FRAMEWORK == "torch":
        from torch import nn

        with pytest.raises(TypeError, match="must return a dict"):
            cl.fit_multitask(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), train.only("new"),
                             steps=1, quiet=True)  # fmt: skip
