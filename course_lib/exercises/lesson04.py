"""Checks for lesson 04's exercises: MAML's inner-loop step, prototype logits, an episode sampler.

``exercises/04_meta_learning_exercises.ipynb`` calls :func:`check_inner_loop_update`,
:func:`check_prototype_logits` and :func:`check_sample_episode`. The inputs are NumPy arrays, so a
solution written with NumPy operations (``w - lr * g``, ``.mean(axis=0)``) and one that turns them
into tensors first both pass; results go through ``np.asarray``. The MAML step is also fed real
tensors (torch; TensorFlow too when the notebook has loaded it) with second-order gradients, and
the query loss's gradient must reach θ through it: NumPy inputs cannot show a step taken under
``torch.no_grad()``, ``.detach()`` or ``tf.stop_gradient``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_close,
    expect_dtype,
    expect_shape,
    expect_type,
    fn_name,
    for_some_framework,
    fresh_rng,
    require_callable,
    run_checks,
    tensor_frameworks,
)


# ---------------------------------------------------------------------------------------------
# Exercise 1: inner_loop_update(weights, grads, lr) -> [w - lr * g for each weight]
# ---------------------------------------------------------------------------------------------
def _weights_and_grads(key: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``[W1, b1, W2, b2]`` of a small MLP and gradients of the same shapes."""
    r = fresh_rng(key)
    shapes = [(1, 8), (8,), (8, 1), (1,)]
    weights = [r.normal(size=s).astype(np.float32) for s in shapes]
    grads = [r.normal(size=s).astype(np.float32) for s in shapes]
    return weights, grads


def _matches(got: list[np.ndarray], want: list[np.ndarray]) -> bool:
    return all(
        g.shape == w.shape and np.allclose(g, w, rtol=1e-5, atol=1e-6)
        for g, w in zip(got, want, strict=True)
    )


def check_inner_loop_update(fn: Callable[..., Any]) -> None:
    """Check ``inner_loop_update(weights, grads, lr) -> [w - lr * g, ...]`` (a new list)."""
    __tracebackhide__ = True
    require_callable(fn, "check_inner_loop_update")
    name = fn_name(fn)

    def updated(weights: list, grads: list, lr: float) -> list[np.ndarray]:
        out = call(fn, weights, grads, lr)
        expect_type(
            out,
            (list, tuple),
            f"`{name}(weights, grads, lr)`",
            "Return a list with one updated array per weight: [w - lr * g for ...].",
        )
        expect(
            len(out) == len(weights),
            f"`{name}(...)` returned {len(out)} arrays for {len(weights)} weights: update every "
            "weight (zip the two lists), and return one array per weight.",
        )
        return [np.asarray(w) for w in out]

    def one_array_per_weight() -> None:
        weights, grads = _weights_and_grads("inner-shapes")
        out = updated(weights, grads, 0.1)
        for i, (got, w) in enumerate(zip(out, weights, strict=True)):
            expect_shape(
                got, w.shape, f"updated weight {i}", "Each result keeps its weight's shape."
            )

    def one_sgd_step() -> None:
        weights, grads = _weights_and_grads("inner-values")
        lr = 0.05
        out = updated([w.copy() for w in weights], [g.copy() for g in grads], lr)
        if _matches(out, [w + lr * g for w, g in zip(weights, grads, strict=True)]):
            raise ExerciseCheckError(
                "the weights moved UP the gradient (w + lr * g): gradient descent subtracts, "
                "w - lr * g, so that the loss goes down."
            )
        if _matches(out, [w - g for w, g in zip(weights, grads, strict=True)]):
            raise ExerciseCheckError(
                "the step ignores the learning rate (w - g): multiply the gradient by `lr`."
            )
        if _matches(out, [-lr * g for g in grads]):
            raise ExerciseCheckError(
                "that is the step alone (-lr * g): add it to the weight, w - lr * g."
            )
        for i, (got, w, g) in enumerate(zip(out, weights, grads, strict=True)):
            expect_close(got, w - lr * g, f"updated weight {i}", atol=1e-5)

    def inputs_left_alone() -> None:
        weights, grads = _weights_and_grads("inner-inplace")
        before_w, before_g = [w.copy() for w in weights], [g.copy() for g in grads]
        weight_list, grad_list = list(weights), list(grads)
        out = call(fn, weight_list, grad_list, 0.1)
        changed = [
            i
            for i, (w, b) in enumerate(zip(weights, before_w, strict=True))
            if not np.array_equal(w, b)
        ]
        expect(
            not changed,
            f"weight(s) {changed} changed in place (w -= lr * g): MAML needs the original "
            "weights θ after the step, so compute new arrays, w - lr * g, and return those.",
        )
        expect(
            all(np.array_equal(g, b) for g, b in zip(grads, before_g, strict=True)),
            "the gradients changed: leave `grads` as they are.",
        )
        expect(
            out is not weight_list
            and all(a is b for a, b in zip(weight_list, weights, strict=True)),
            "the list `weights` was modified (an entry replaced or appended): leave that "
            "list as it is, and build and return a new list of the updated weights.",
        )

    def zero_rate_changes_nothing() -> None:
        weights, grads = _weights_and_grads("inner-zero")
        out = updated(weights, grads, 0.0)
        for i, (got, w) in enumerate(zip(out, weights, strict=True)):
            expect_close(got, w, f"with lr=0, updated weight {i}", atol=0)

    def meta_gradient_reaches_theta() -> None:
        for_some_framework(
            {fw: lambda fw=fw: _check_meta_gradient(fn, fw) for fw in tensor_frameworks()}
        )

    run_checks(
        name,
        [
            ("one array per weight, same shapes", one_array_per_weight),
            ("one step of gradient descent, w - lr * g", one_sgd_step),
            ("the inputs are not modified", inputs_left_alone),
            ("lr=0 leaves the weights as they are", zero_rate_changes_nothing),
            (
                "on real tensors, the query loss's gradient reaches θ through the step",
                meta_gradient_reaches_theta,
            ),
        ],
    )


_NO_GRAPH = (
    "the updated weights are not connected to θ: the step ran under torch.no_grad(), or its "
    "result (or θ) was .detach()-ed, or it went through NumPy (np.asarray, .numpy()). MAML's "
    "outer loop differentiates the query loss through this step back to θ; with the step cut "
    "off, the meta-gradient is None and meta-training changes nothing. Write the step as plain "
    "tensor arithmetic on `weights` and `grads` (it works on NumPy arrays and tensors alike)."
)
_NO_GRAPH_TF = (
    "no gradient reaches θ through your step: tf.stop_gradient (or a NumPy round trip, "
    "np.asarray / .numpy()) cuts the step off from θ. MAML's outer loop differentiates the "
    "query loss through this step back to θ; with the step cut off, the meta-gradient is None "
    "and meta-training changes nothing. Write the step as plain tensor arithmetic on `weights` "
    "and `grads`."
)
_FIRST_ORDER = (
    "the meta-gradient reaches θ, but not through the gradients: `grads` was detached (or "
    "stop_gradient-ed) inside the step, which turns second-order MAML into its first-order "
    "approximation. The lesson computes `grads` with create_graph=True precisely so that the "
    "step can be differentiated through them: use `grads` as they are."
)


def _regression(key: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """A small MLP's weights ``[W1, b1, W2, b2]`` (float64) and support/query points."""
    r = fresh_rng(key)
    weights = [r.normal(scale=0.7, size=s) for s in ((1, 8), (8,), (8, 1), (1,))]
    points = [r.uniform(-2, 2, size=(6, 1)) for _ in range(2)]
    data = [points[0], np.sin(points[0]), points[1], np.sin(points[1])]
    return weights, data


def _mlp_loss(params: list, x: Any, y: Any, ops: Any) -> Any:
    hidden = ops.tanh(x @ params[0] + params[1])
    return ops.mean((hidden @ params[2] + params[3] - y) ** 2)


def _check_meta_gradient(fn: Callable[..., Any], framework: str) -> None:
    """Feed ``fn`` real tensors with second-order gradients; the query loss's gradient w.r.t.
    θ must exist for every weight and equal the one through ``w - lr * g``."""
    weights, data = _regression("inner-meta")
    lr = 0.1
    name = fn_name(fn)
    if framework == "torch":
        import torch

        def meta(update: Callable[..., Any], *, learner: bool) -> list:
            theta = [torch.tensor(w, requires_grad=True) for w in weights]
            xs, ys, xq, yq = (torch.tensor(d) for d in data)
            grads = torch.autograd.grad(_mlp_loss(theta, xs, ys, torch), theta, create_graph=True)
            if not learner:
                fast = update(theta, grads)
            else:
                try:
                    fast = call(update, list(theta), list(grads), lr)
                except ExerciseCheckError as err:
                    if err.crashed and "numpy()" in str(err):  # np.* on a tensor with a graph
                        raise ExerciseCheckError(
                            f"`{name}` turned torch tensors into NumPy arrays (np.asarray, "
                            f"np.subtract, ...), which torch refuses for tensors that carry "
                            f"gradients. {_NO_GRAPH}",
                            crashed=True,
                        ) from None
                    raise
                expect_type(fast, (list, tuple), f"`{name}(weights, grads, lr)` for tensors")
                kinds = sorted({type(f).__name__ for f in fast if not isinstance(f, torch.Tensor)})
                expect(
                    not kinds,
                    f"for torch tensors `{name}` returned {', '.join(kinds)} values: keep them "
                    f"tensors (no np.asarray, .numpy(), float()). {_NO_GRAPH}",
                )
                expect(all(f.requires_grad for f in fast), _NO_GRAPH)
            loss = _mlp_loss(list(fast), xq, yq, torch)
            found = torch.autograd.grad(loss, theta, allow_unused=True)
            return [None if g is None else g.detach().numpy() for g in found]

        no_graph = _NO_GRAPH
    else:
        import tensorflow as tf

        class _Ops:
            tanh, mean = staticmethod(tf.tanh), staticmethod(tf.reduce_mean)

        def meta(update: Callable[..., Any], *, learner: bool) -> list:
            theta = [tf.Variable(w) for w in weights]
            xs, ys, xq, yq = (tf.constant(d) for d in data)
            with tf.GradientTape() as outer:
                with tf.GradientTape() as inner:
                    support_loss = _mlp_loss(theta, xs, ys, _Ops)
                grads = inner.gradient(support_loss, theta)
                if learner:
                    fast = call(update, list(theta), list(grads), lr)
                else:
                    fast = update(theta, grads)
                if learner:
                    expect_type(fast, (list, tuple), f"`{name}(weights, grads, lr)` for tensors")
                fast = [tf.convert_to_tensor(f) for f in fast]
                loss = _mlp_loss(fast, xq, yq, _Ops)
            found = outer.gradient(loss, theta)
            return [None if g is None else np.asarray(g) for g in found]

        no_graph = _NO_GRAPH_TF

    got = meta(fn, learner=True)
    missing = [i for i, g in enumerate(got) if g is None]
    expect(
        not missing,
        f"weight(s) {missing} of θ get no gradient from the query loss: {no_graph}"
        if len(missing) < len(got)
        else no_graph,
    )
    want = meta(lambda ws, gs: [w - lr * g for w, g in zip(ws, gs, strict=True)], learner=False)
    if framework == "torch":
        first = meta(
            lambda ws, gs: [w - lr * g.detach() for w, g in zip(ws, gs, strict=True)],
            learner=False,
        )
    else:
        import tensorflow as tf

        first = meta(
            lambda ws, gs: [w - lr * tf.stop_gradient(g) for w, g in zip(ws, gs, strict=True)],
            learner=False,
        )
    if _matches(got, first) and not _matches(got, want):
        raise ExerciseCheckError(_FIRST_ORDER)
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        expect_close(
            g,
            w,
            f"the meta-gradient of weight {i}",
            atol=1e-6,
            hint="The step must be exactly w - lr * g, differentiable in both w and g.",
        )


# ---------------------------------------------------------------------------------------------
# Exercise 2: prototype_logits(support, support_y, query, n_way) -> -squared distances
# ---------------------------------------------------------------------------------------------
def _squared_distances(query: np.ndarray, prototypes: np.ndarray) -> np.ndarray:
    return ((query[:, None, :] - prototypes[None, :, :]) ** 2).sum(axis=-1)


def _reference_prototype_logits(
    support: np.ndarray, support_y: np.ndarray, query: np.ndarray, n_way: int
) -> np.ndarray:
    prototypes = np.stack([support[support_y == k].mean(axis=0) for k in range(n_way)])
    return -_squared_distances(query, prototypes)


def _embedded_episode(
    key: str, n_way: int, k_shot: int, n_query: int, dim: int, spread: float = 1.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Support and query embeddings around ``n_way`` centres; the support labels shuffled."""
    r = fresh_rng(key)
    centres = r.normal(scale=3.0, size=(n_way, dim))
    support_y = r.permutation(np.repeat(np.arange(n_way), k_shot))
    query_y = r.permutation(np.repeat(np.arange(n_way), n_query))
    support = centres[support_y] + r.normal(scale=spread, size=(len(support_y), dim))
    query = centres[query_y] + r.normal(scale=spread, size=(len(query_y), dim))
    return support, support_y, query, query_y


def check_prototype_logits(fn: Callable[..., Any]) -> None:
    """Check ``prototype_logits(support, support_y, query, n_way) -> (n_query, n_way)`` array of
    minus the squared Euclidean distance from each query to each class's mean support embedding."""
    __tracebackhide__ = True
    require_callable(fn, "check_prototype_logits")
    name = fn_name(fn)

    def logits(support, support_y, query, n_way) -> np.ndarray:
        return np.asarray(call(fn, support, support_y, query, n_way), dtype=np.float64)

    def one_score_per_query_and_class() -> None:
        for n_way, k_shot, n_query in ((3, 4, 7), (5, 1, 2)):
            support, support_y, query, _ = _embedded_episode(
                f"proto-shape{n_way}", n_way, k_shot, n_query, 6
            )
            out = logits(support, support_y, query, n_way)
            expect_shape(
                out,
                (len(query), n_way),
                f"`{name}(...)` for {len(query)} queries and n_way={n_way}",
                "One row per query, one column per class (class k in column k).",
            )

    def minus_squared_distance_to_the_mean() -> None:
        support, support_y, query, _ = _embedded_episode("proto-values", 4, 3, 6, 5)
        got = logits(support.copy(), support_y.copy(), query.copy(), 4)
        want = _reference_prototype_logits(support, support_y, query, 4)
        if np.allclose(got, -want, rtol=1e-4, atol=1e-4):
            raise ExerciseCheckError(
                "the scores are positive distances: the closest prototype must get the HIGHEST "
                "score (argmax), so return MINUS the squared distance."
            )
        dist = np.sqrt(-want)
        if np.allclose(np.abs(got), dist, rtol=1e-4, atol=1e-4):
            raise ExerciseCheckError(
                "that is the plain Euclidean distance; prototypical networks use the SQUARED "
                "distance, the sum of (q - p)**2 without the square root."
            )
        firsts = np.stack([support[np.flatnonzero(support_y == k)[0]] for k in range(4)])
        if np.allclose(np.abs(got), _squared_distances(query, firsts), rtol=1e-4, atol=1e-4):
            raise ExerciseCheckError(
                "each prototype is the first support embedding of its class: with k_shot > 1 it "
                "must be the MEAN of all that class's support embeddings."
            )
        grouped = support[np.argsort(support_y, kind="stable")]
        if not np.array_equal(grouped, support):
            blocks = support.reshape(4, 3, -1).mean(axis=1)
            if np.allclose(np.abs(got), _squared_distances(query, blocks), rtol=1e-4, atol=1e-4):
                raise ExerciseCheckError(
                    "the support embeddings were averaged in blocks of k_shot rows, as if sorted "
                    "by class; the labels can come in any order: average the rows where "
                    "support_y == k."
                )
        expect_close(
            got,
            want,
            f"`{name}(...)` for 6 queries and 4 classes (3 shots each, labels shuffled)",
            atol=1e-4,
            unit="scores",
            index_names=("query", "class"),
            hint="Each score is -sum((query - prototype)**2), the prototype the mean of a "
            "class's support rows.",
        )

    def highest_score_is_nearest_prototype() -> None:
        support, support_y, query, query_y = _embedded_episode(
            "proto-argmax", 5, 5, 8, 16, spread=0.3
        )
        out = logits(support, support_y, query, 5)
        predicted = out.argmax(axis=1)
        wrong = int((predicted != query_y).sum())
        expect(
            wrong == 0,
            f"for 5 well-separated classes, {wrong} of {len(query_y)} queries get their highest "
            "score for a class other than their own: the nearest prototype must score highest.",
        )

    def inputs_left_alone() -> None:
        support, support_y, query, _ = _embedded_episode("proto-inplace", 3, 2, 4, 4)
        before = (support.copy(), support_y.copy(), query.copy())
        call(fn, support, support_y, query, 3)
        for what, now, then in zip(
            ("support", "support_y", "query"), (support, support_y, query), before, strict=True
        ):
            expect(
                np.array_equal(now, then),
                f"`{what}` changed: compute the prototypes and distances in new arrays.",
            )

    run_checks(
        name,
        [
            ("one score per query and class", one_score_per_query_and_class),
            ("minus the squared distance to each class mean", minus_squared_distance_to_the_mean),
            ("the nearest prototype scores highest", highest_score_is_nearest_prototype),
            ("the inputs are not modified", inputs_left_alone),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Exercise 3: sample_episode(labels, n_way, k_shot, n_query, rng) -> (support_idx, query_idx)
# ---------------------------------------------------------------------------------------------
def _labels(key: str, counts: list[int]) -> np.ndarray:
    """Shuffled labels: ``counts[c]`` examples of class ``c``."""
    return fresh_rng(key).permutation(np.repeat(np.arange(len(counts)), counts))


def _classes_drawn_once(labels: np.ndarray, parts: tuple[np.ndarray, ...], n_way: int) -> None:
    """Fail with the right hint when a class was drawn twice (classes drawn with replacement):
    that also makes examples repeat, but "draw the examples without replacement" would
    misdirect."""
    for part in parts:
        valid = part[(part >= 0) & (part < len(labels))]
        drawn = np.unique(labels[valid]).size
        expect(
            valid.size < part.size or drawn >= n_way,
            f"the episode holds only {drawn} different classes for n_way={n_way}: the same "
            "class was chosen more than once. Choose the n_way classes without replacement "
            "(rng.choice(..., n_way, replace=False)).",
        )


def check_sample_episode(fn: Callable[..., Any]) -> None:
    """Check ``sample_episode(labels, n_way, k_shot, n_query, rng) -> (support_idx, query_idx)``:
    positions in ``labels``, grouped by class in the order the classes were drawn."""
    __tracebackhide__ = True
    require_callable(fn, "check_sample_episode")
    name = fn_name(fn)

    def episode(labels, n_way, k_shot, n_query, seed) -> tuple[np.ndarray, np.ndarray]:
        out = call(fn, labels, n_way, k_shot, n_query, np.random.default_rng(seed))
        expect_type(out, (tuple, list), f"`{name}(...)`", "Return (support_idx, query_idx).")
        expect(
            len(out) == 2,
            f"`{name}(...)` returned {len(out)} values, expected 2: support_idx, query_idx.",
        )
        parts = tuple(np.asarray(part) for part in out)
        for what, part in zip(("support_idx", "query_idx"), parts, strict=True):
            expect_dtype(part, np.integer, what, "Indices must be integers (e.g. np.int64).")
            expect(
                part.ndim == 1,
                f"{what} has shape {part.shape}: flatten it to one index per example.",
            )
        return parts

    cases = ((5, 1, 3), (3, 4, 2), (2, 3, 5))

    def lengths_follow_the_arguments() -> None:
        for n_way, k_shot, n_query in cases:
            labels = _labels(f"episode-len{n_way}", [k_shot + n_query + 2] * 8)
            s_idx, q_idx = episode(labels, n_way, k_shot, n_query, seed=1)
            args = f"n_way={n_way}, k_shot={k_shot}, n_query={n_query}"
            expect(
                len(s_idx) == n_way * k_shot,
                f"support_idx has {len(s_idx)} indices, expected n_way * k_shot = "
                f"{n_way * k_shot} for {args}.",
            )
            expect(
                len(q_idx) == n_way * n_query,
                f"query_idx has {len(q_idx)} indices, expected n_way * n_query = "
                f"{n_way * n_query} for {args}.",
            )

    def valid_distinct_and_disjoint() -> None:
        labels = _labels("episode-disjoint", [6] * 10)
        s_idx, q_idx = episode(labels, 5, 3, 3, seed=2)
        _classes_drawn_once(labels, (s_idx, q_idx), 5)
        for what, idx in (("support_idx", s_idx), ("query_idx", q_idx)):
            bad = idx[(idx < 0) | (idx >= len(labels))]
            expect(
                bad.size == 0,
                f"{what} holds {bad.size} indices outside 0..{len(labels) - 1} (e.g. "
                f"{bad[:3].tolist()}): return positions in `labels`, not labels.",
            )
            repeated = idx.size - np.unique(idx).size
            expect(
                repeated == 0 or np.unique(idx).size > 5,
                f"{what} holds only the values {np.unique(idx).tolist()}, one per chosen class: "
                "those look like class labels. Return positions in `labels` (e.g. from "
                "np.flatnonzero(labels == c)), one per example.",
            )
            expect(
                repeated == 0,
                f"{what} uses {repeated} example(s) twice: draw each class's examples without "
                "replacement (replace=False).",
            )
        shared = np.intersect1d(s_idx, q_idx).size
        expect(
            shared == 0,
            f"support_idx and query_idx share {shared} index(es): draw k_shot + n_query examples "
            "of a class at once, the first k_shot for the support set, the rest for the query.",
        )

    def n_way_classes_k_shot_and_n_query_each() -> None:
        for n_way, k_shot, n_query in cases:
            labels = _labels(f"episode-classes{n_way}", [k_shot + n_query + 1] * 9)
            s_idx, q_idx = episode(labels, n_way, k_shot, n_query, seed=3)
            s_cls, q_cls = labels[s_idx], labels[q_idx]
            distinct = np.unique(s_cls).size
            expect(
                distinct == n_way,
                f"the support set holds {distinct} different classes, expected n_way={n_way}: "
                "choose n_way classes without replacement.",
            )
            expect(
                set(q_cls.tolist()) == set(s_cls.tolist()),
                "the query set has classes the support set does not have (or misses some): the "
                "queries must come from the same n_way classes.",
            )
            for what, cls, per in (("support", s_cls, k_shot), ("query", q_cls, n_query)):
                _, counts = np.unique(cls, return_counts=True)
                expect(
                    (counts == per).all(),
                    f"the {what} set has {sorted(counts.tolist())} examples per class, expected "
                    f"{per} of each ({'k_shot' if what == 'support' else 'n_query'}).",
                )

    def grouped_by_class_in_the_same_order() -> None:
        n_way, k_shot, n_query = 4, 3, 2
        labels = _labels("episode-order", [7] * 9)
        s_idx, q_idx = episode(labels, n_way, k_shot, n_query, seed=4)
        s_blocks = labels[s_idx].reshape(n_way, k_shot)
        q_blocks = labels[q_idx].reshape(n_way, n_query)
        expect(
            (s_blocks == s_blocks[:, :1]).all() and (q_blocks == q_blocks[:, :1]).all(),
            "the indices are not grouped by class: put the k_shot support indices of the first "
            "chosen class first, then those of the second, ... (the query indices likewise), so "
            "that support_y = np.repeat(np.arange(n_way), k_shot) labels them.",
        )
        expect(
            np.array_equal(s_blocks[:, 0], q_blocks[:, 0]),
            "the classes come in a different order in support_idx and query_idx: use the same "
            "class order (the order they were drawn in) for both.",
        )

    def only_classes_with_enough_examples() -> None:
        counts = [
            2,
            9,
            1,
            8,
            3,
            10,
            2,
            7,
            9,
            1,
        ]  # needs 5 per class: classes 0, 2, 4, 6, 9 are short
        labels = _labels("episode-small", counts)
        small = {c for c, n in enumerate(counts) if n < 5}
        for seed in range(10):
            try:
                s_idx, q_idx = episode(labels, 4, 2, 3, seed=seed)
            except ExerciseCheckError as err:
                if "larger sample than population" in str(err):
                    raise ExerciseCheckError(
                        "some classes have fewer than k_shot + n_query examples, and your "
                        "function chose one of them: choose only among the classes with at "
                        "least k_shot + n_query examples (np.unique(labels, return_counts=True))."
                    ) from None
                raise
            used = {int(c) for c in labels[np.concatenate([s_idx, q_idx])]} & small
            expect(
                not used,
                f"the episode uses class(es) {sorted(used)} that have fewer than k_shot + "
                "n_query = 5 examples: choose only among the classes with enough examples.",
            )

    def same_rng_same_episode() -> None:
        labels = _labels("episode-determinism", [6] * 12)
        first = episode(labels, 5, 2, 3, seed=11)
        second = episode(labels, 5, 2, 3, seed=11)
        expect(
            all(np.array_equal(a, b) for a, b in zip(first, second, strict=True)),
            "two generators with the same seed gave different episodes: draw every random "
            "number from `rng`, nothing from np.random.* directly.",
        )

    def different_rngs_different_episodes() -> None:
        labels = _labels("episode-seeds", [5] * 20)
        chosen, examples = set(), set()
        for seed in range(8):
            s_idx, _ = episode(labels, 5, 1, 1, seed=seed)
            chosen.add(frozenset(labels[s_idx].tolist()))
        expect(
            len(chosen) >= 4,
            f"8 different seeds chose only {len(chosen)} different set(s) of classes out of 20: "
            "choose the n_way classes at random with rng.choice(..., replace=False).",
        )
        two = _labels("episode-examples", [8, 8])
        for seed in range(8):
            s_idx, _ = episode(two, 2, 2, 2, seed=seed)
            examples.add(frozenset(s_idx.tolist()))
        expect(
            len(examples) >= 4,
            f"with only 2 classes, 8 seeds drew only {len(examples)} different support set(s): "
            "draw each class's examples at random too (rng.choice(..., replace=False)), not "
            "its first ones.",
        )

    run_checks(
        name,
        [
            ("lengths follow n_way, k_shot and n_query", lengths_follow_the_arguments),
            ("indices are valid, distinct, support/query disjoint", valid_distinct_and_disjoint),
            (
                "n_way classes, k_shot support and n_query queries each",
                n_way_classes_k_shot_and_n_query_each,
            ),
            ("grouped by class, in the same order", grouped_by_class_in_the_same_order),
            ("only classes with enough examples", only_classes_with_enough_examples),
            ("the same rng seed gives the same episode", same_rng_same_episode),
            ("different seeds give different episodes", different_rngs_different_episodes),
        ],
    )
