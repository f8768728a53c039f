"""Checks for lesson 00's exercises (NumPy only): standardising images, sampling an episode.

``exercises/00_setup_exercises.ipynb`` calls :func:`check_standardize_images` and
:func:`check_sample_episode` on the learner's functions. Each check draws fresh inputs (from a
seed the notebook never shows) and reports what is wrong without printing the expected values.
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
    expect_finite,
    expect_shape,
    expect_type,
    fn_name,
    fresh_rng,
    require_callable,
    run_checks,
)

EPS = 1e-6  # added to each image's std, so a blank image gives zeros instead of NaN
_PIXEL = ("image", "row", "col")


# ---------------------------------------------------------------------------------------------
# Exercise 1: standardize_images(images) -> per-image mean 0, std 1
# ---------------------------------------------------------------------------------------------
def _reference_standardize_images(images: np.ndarray) -> np.ndarray:
    x = np.asarray(images, dtype=np.float64)
    centred = x - x.mean(axis=(1, 2), keepdims=True)
    return (centred / (x.std(axis=(1, 2), keepdims=True) + EPS)).astype(np.float32)


def _image_batch(key: str, shape: tuple[int, int, int], dtype: Any = np.float32) -> np.ndarray:
    """Images of different brightness and contrast: a batch-wide standardisation shows."""
    rng = fresh_rng(key)
    n = shape[0]
    offsets = rng.uniform(0.0, 0.6, (n, 1, 1))
    scales = rng.uniform(0.1, 1.0, (n, 1, 1))
    return (offsets + scales * rng.random(shape)).astype(dtype)


def check_standardize_images(fn: Callable[[np.ndarray], np.ndarray]) -> None:
    """Check a learner's ``standardize_images``; print one line if it passes, else explain."""
    __tracebackhide__ = True
    require_callable(fn, "check_standardize_images")
    name = fn_name(fn)

    def array_of_input_shape() -> None:
        for shape in ((5, 7, 9), (1, 8, 8)):
            out = call(fn, _image_batch(f"shape{shape}", shape))
            expect_type(out, np.ndarray, f"`{name}(images)`", "Return a NumPy array.")
            expect_shape(
                out,
                shape,
                f"`{name}(images)` for images of shape {shape}",
                "The result must have the same (N, H, W) shape as its input.",
            )

    def float32_result() -> None:
        out = call(fn, _image_batch("dtype", (3, 6, 6), np.float64))
        expect_dtype(
            out,
            np.float32,
            f"`{name}(images)` for float64 images",
            "Convert the result with `.astype(np.float32)`.",
        )

    def per_image_mean_and_std() -> None:
        images = _image_batch("moments", (6, 7, 9))
        out = np.asarray(call(fn, images), dtype=np.float64)
        expect_finite(out, f"`{name}(images)`", index_names=_PIXEL)
        means, stds = out.mean(axis=(1, 2)), out.std(axis=(1, 2))
        worst = int(np.argmax(np.abs(means) + np.abs(stds - 1)))
        if abs(means[worst]) <= 1e-3 and abs(stds[worst] - 1) <= 1e-3:
            return
        hint = "Standardise each image with its own mean and std."
        n_pixels = images[0].size
        if abs(out.mean()) < 1e-3 and abs(out.std() - 1) < 1e-3:
            hint = (
                "The batch as a whole has mean 0 and std 1, but each image needs its own "
                "mean and std, not the batch's."
            )
        elif np.allclose(stds, np.sqrt((n_pixels - 1) / n_pixels), atol=1e-3):
            hint = "Use the plain std (NumPy's default, ddof=0), not the sample std (ddof=1)."
        raise ExerciseCheckError(
            f"after `{name}`, image {worst} of {len(out)} has mean {means[worst]:.3g} and std "
            f"{stds[worst]:.3g}; every image must have mean 0 and std 1. {hint}"
        )

    def blank_image_gives_zeros() -> None:
        images = _image_batch("blank", (4, 8, 8))
        images[1] = 0.0  # blank
        images[2] = 1.0  # fully inked
        out = np.asarray(call(fn, images))
        expect_finite(
            out,
            f"`{name}(images)` for a batch with a blank image (image 1)",
            "A blank image has std 0: add eps=1e-6 to the std before dividing.",
            index_names=_PIXEL,
        )
        for i, what in ((1, "blank"), (2, "fully inked")):
            largest = float(np.abs(out[i]).max())
            expect(
                largest <= 1e-4,
                f"the {what} image (image {i}) must come out as zeros, got values up to "
                f"{largest:.3g}. Add eps=1e-6 to the std, not to the pixels.",
            )

    def input_unchanged() -> None:
        images = _image_batch("inplace", (3, 8, 8))
        before = images.copy()
        call(fn, images)
        changed = int((images != before).sum())
        expect(
            changed == 0,
            f"`{name}` changed its input: {changed} of {images.size} pixels of `images` were "
            "modified. Compute the result into a new array (no `images -= ...` or "
            "`images[...] = ...`).",
        )

    def values_match() -> None:
        images = _image_batch("values", (5, 8, 10))
        images[3] = 0.0
        out = np.asarray(call(fn, images))
        expect_close(
            out,
            _reference_standardize_images(images),
            f"`{name}(images)`",
            atol=1e-4,
            unit="pixels",
            index_names=_PIXEL,
            hint="Subtract each image's mean, then divide by its std + eps.",
        )

    run_checks(
        name,
        [
            ("returns an array of the input's shape", array_of_input_shape),
            ("returns float32, also for float64 images", float32_result),
            ("each image has mean 0 and std 1", per_image_mean_and_std),
            ("a blank image gives zeros, not NaN", blank_image_gives_zeros),
            ("leaves its input unchanged", input_unchanged),
            ("values agree with the reference within 1e-4", values_match),
        ],
    )


# ---------------------------------------------------------------------------------------------
# Exercise 2: sample_episode(labels, n_way, k_shot, n_query, seed) -> index arrays of an episode
# ---------------------------------------------------------------------------------------------
def _reference_sample_episode(
    labels: np.ndarray, n_way: int, k_shot: int, n_query: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.unique(labels), size=n_way, replace=False)
    support, query = [], []
    for c in classes:
        picked = rng.permutation(np.flatnonzero(labels == c))[: k_shot + n_query]
        support.append(picked[:k_shot])
        query.append(picked[k_shot:])
    return (
        np.concatenate(support),
        np.repeat(np.arange(n_way), k_shot),
        np.concatenate(query),
        np.repeat(np.arange(n_way), n_query),
    )


def _labels(key: str, n_classes: int, per_class: int) -> np.ndarray:
    """Shuffled labels ``0..n_classes-1`` with at least ``per_class`` examples each."""
    rng = fresh_rng(key)
    counts = per_class + rng.integers(0, 4, n_classes)
    return rng.permutation(np.repeat(np.arange(n_classes), counts))


_NAMES = ("support_idx", "support_y", "query_idx", "query_y")


def check_sample_episode(fn: Callable[..., tuple]) -> None:
    """Check a learner's ``sample_episode``; print one line if it passes, else explain."""
    __tracebackhide__ = True
    require_callable(fn, "check_sample_episode")
    name = fn_name(fn)

    def episode(
        labels: np.ndarray, n_way: int, k_shot: int, n_query: int, seed: int
    ) -> tuple[np.ndarray, ...]:
        out = call(fn, labels, n_way, k_shot, n_query, seed)
        expect_type(
            out, (tuple, list), f"`{name}(...)`", f"Return the four arrays {', '.join(_NAMES)}."
        )
        expect(
            len(out) == 4,
            f"`{name}(...)` returned {len(out)} values, expected 4: {', '.join(_NAMES)}.",
        )
        for part, value in zip(_NAMES, out, strict=True):
            expect_type(value, np.ndarray, part, "Turn it into an array with np.asarray(...).")
        return tuple(out)

    cases = ((5, 1, 2), (3, 4, 1), (2, 3, 5))

    def four_integer_arrays() -> None:
        parts = episode(_labels("types", 8, 8), 3, 2, 2, seed=1)
        for part, value in zip(_NAMES, parts, strict=True):
            expect_dtype(
                value, np.integer, part, "Indices and labels must be integers (e.g. np.int64)."
            )

    def shapes_follow_the_arguments() -> None:
        for n_way, k_shot, n_query in cases:
            labels = _labels(f"shapes{n_way}{k_shot}{n_query}", 9, k_shot + n_query)
            s_idx, s_y, q_idx, q_y = episode(labels, n_way, k_shot, n_query, seed=2)
            args = f"n_way={n_way}, k_shot={k_shot}, n_query={n_query}"
            support = f"({n_way * k_shot},) = n_way * k_shot, for {args}"
            query = f"({n_way * n_query},) = n_way * n_query, for {args}"
            for part, value, want, text in (
                ("support_idx", s_idx, n_way * k_shot, support),
                ("support_y", s_y, n_way * k_shot, support),
                ("query_idx", q_idx, n_way * n_query, query),
                ("query_y", q_y, n_way * n_query, query),
            ):
                hint = (
                    "Flatten it: one entry per example."
                    if value.size == want
                    else f"Does your function use {'k_shot' if 'support' in part else 'n_query'}"
                    " and n_way?"
                )
                expect(
                    value.shape == (want,),
                    f"{part} has shape {value.shape}, expected {text}. {hint}",
                )

    def indices_valid_and_disjoint() -> None:
        labels = _labels("disjoint", 10, 6)
        s_idx, _, q_idx, _ = episode(labels, 5, 3, 3, seed=3)
        for part, idx in (("support_idx", s_idx), ("query_idx", q_idx)):
            bad = idx[(idx < 0) | (idx >= len(labels))]
            expect(
                bad.size == 0,
                f"{part} holds {bad.size} indices outside 0..{len(labels) - 1} "
                f"(e.g. {bad[:3].tolist()}): they must be positions in `labels`, not labels.",
            )
            drawn = np.unique(labels[idx]).size
            expect(
                drawn >= 5,
                f"{part} holds examples of only {drawn} different classes for n_way=5: the same "
                "class was chosen more than once. Choose the n_way classes without replacement.",
            )
            repeated = idx.size - np.unique(idx).size
            expect(
                repeated == 0,
                f"{part} uses {repeated} example(s) twice: draw examples without replacement.",
            )
        shared = np.intersect1d(s_idx, q_idx).size
        expect(
            shared == 0,
            f"support_idx and query_idx share {shared} index(es): an example must be in the "
            "support set or the query set, never both.",
        )

    def relabelled_labels() -> None:
        for n_way, k_shot, n_query in cases:
            labels = _labels(f"relabel{n_way}", 12, k_shot + n_query)
            _, s_y, _, q_y = episode(labels, n_way, k_shot, n_query, seed=4)
            for part, y, per_way in (("support_y", s_y, k_shot), ("query_y", q_y, n_query)):
                outside = sorted({int(v) for v in y if not 0 <= v < n_way})
                expect(
                    not outside,
                    f"{part} holds labels {outside[:5]} outside 0..{n_way - 1} (n_way={n_way}): "
                    "relabel the chosen classes 0..n_way-1 instead of keeping the dataset's "
                    "labels.",
                )
                counts = np.bincount(y, minlength=n_way).tolist()
                expect(
                    counts == [per_way] * n_way,
                    f"{part} has {counts} examples of the labels 0..{n_way - 1}; each relabelled "
                    f"class needs exactly {'k_shot' if part == 'support_y' else 'n_query'}="
                    f"{per_way}.",
                )

    def one_original_class_per_way() -> None:
        labels = _labels("classes", 12, 6)
        s_idx, s_y, q_idx, q_y = episode(labels, 4, 3, 3, seed=5)
        originals = []
        for way in range(4):
            found = np.unique(
                np.concatenate([labels[s_idx[s_y == way]], labels[q_idx[q_y == way]]])
            )
            expect(
                found.size == 1,
                f"relabelled class {way} mixes examples of {found.size} different dataset "
                "classes; all its support and query examples must come from one class.",
            )
            originals.append(int(found[0]))
        expect(
            len(set(originals)) == 4,
            f"the 4 relabelled classes come from only {len(set(originals))} different dataset "
            "classes; choose n_way different classes (without replacement).",
        )

    def same_seed_same_episode() -> None:
        labels = _labels("determinism", 15, 5)
        first = episode(labels, 5, 2, 3, seed=11)
        second = episode(labels, 5, 2, 3, seed=11)
        for part, a, b in zip(_NAMES, first, second, strict=True):
            expect(
                np.array_equal(a, b),
                f"two calls with the same seed gave different {part}: draw every random "
                "number from np.random.default_rng(seed), nothing from np.random.* directly.",
            )

    def seeds_choose_different_classes() -> None:
        labels = _labels("seeds", 20, 4)
        chosen = set()
        for seed in range(8):
            s_idx = episode(labels, 5, 1, 1, seed=seed)[0]
            chosen.add(frozenset(labels[s_idx].tolist()))
        expect(
            len(chosen) >= 4,
            f"8 different seeds chose only {len(chosen)} different set(s) of classes out of 20: "
            "choose the n_way classes at random with the generator made from `seed`.",
        )

    run_checks(
        name,
        [
            ("returns four integer arrays", four_integer_arrays),
            ("shapes follow n_way, k_shot and n_query", shapes_follow_the_arguments),
            ("indices are valid and support/query are disjoint", indices_valid_and_disjoint),
            ("labels are relabelled 0..n_way-1", relabelled_labels),
            ("each relabelled class is one dataset class", one_original_class_per_way),
            ("the same seed gives the same episode", same_seed_same_episode),
            ("different seeds choose different classes", seeds_choose_different_classes),
        ],
    )
