"""N-way K-shot episodes over any labelled set (few-shot learning, lesson 04)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from course_lib.data.types import LabelledImages


@dataclass(frozen=True)
class Episode:
    """One few-shot task. Labels are relabelled ``0 .. n_way-1``; ``classes`` maps them back.

    ``support_idx`` and ``query_idx`` are the images' positions in the sampler's dataset (to look
    up features computed once for the whole set).
    """

    support_x: np.ndarray
    support_y: np.ndarray
    query_x: np.ndarray
    query_y: np.ndarray
    classes: np.ndarray
    support_idx: np.ndarray
    query_idx: np.ndarray


class EpisodeSampler:
    """Draws N-way K-shot episodes (plus ``n_query`` queries per class) from a labelled set.

    >>> sampler = EpisodeSampler(data, n_way=5, k_shot=1, n_query=5, seed=0)
    >>> episode = sampler.sample()
    """

    def __init__(
        self, data: LabelledImages, n_way: int, k_shot: int, n_query: int = 5, *, seed: int = 0
    ):
        for name, value, low in (
            ("n_way", n_way, 2),
            ("k_shot", k_shot, 1),
            ("n_query", n_query, 0),
        ):
            if not isinstance(value, int | np.integer) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        self.data, self.n_way, self.k_shot, self.n_query = data, n_way, k_shot, n_query
        per_class = k_shot + n_query
        counts = np.bincount(data.labels, minlength=data.num_classes)
        self.eligible = np.flatnonzero(counts >= per_class)
        if len(self.eligible) < n_way:
            raise ValueError(
                f"Cannot draw {n_way}-way {k_shot}-shot episodes with {n_query} queries from "
                f"{data.name!r}: that needs {n_way} classes with >= {per_class} samples each, "
                f"but only {len(self.eligible)} of {data.num_classes} classes have that many "
                f"(largest class: "
                f"{counts.max() if counts.size else 0} samples). Lower n_way, k_shot or n_query."
            )
        self._by_class = {c: np.flatnonzero(data.labels == c) for c in self.eligible}
        self._rng = np.random.default_rng(seed)

    def sample(self) -> Episode:
        """Draw one episode."""
        classes = self._rng.choice(self.eligible, size=self.n_way, replace=False)
        support, query = [], []
        for c in classes:
            picked = self._rng.choice(
                self._by_class[c], size=self.k_shot + self.n_query, replace=False
            )
            support.append(picked[: self.k_shot])
            query.append(picked[self.k_shot :])
        s_idx, q_idx = np.concatenate(support), np.concatenate(query)
        ways = np.arange(self.n_way)
        return Episode(
            self.data.images[s_idx],
            np.repeat(ways, self.k_shot),
            self.data.images[q_idx],
            np.repeat(ways, self.n_query),
            classes,
            s_idx,
            q_idx,
        )

    def __iter__(self) -> Iterator[Episode]:
        while True:
            yield self.sample()


def _draw_classes_and_train(
    data: LabelledImages, k_shot: int, n_way: int | None, seed: int, keep: int
) -> tuple[LabelledImages, np.ndarray, np.random.Generator, np.ndarray]:
    """The selected classes (relabelled), the training indices in them, the generator, and where
    each sample of the selection sits in ``data``."""
    if isinstance(k_shot, bool) or not isinstance(k_shot, int | np.integer) or k_shot < 1:
        raise ValueError(f"k_shot must be a positive integer, got {k_shot!r}.")
    rng = np.random.default_rng(seed)
    n_classes = data.num_classes
    if n_way is None:
        classes = np.arange(n_classes)
    else:
        if isinstance(n_way, bool) or not isinstance(n_way, int | np.integer) or n_way < 2:
            raise ValueError(f"n_way must be an integer >= 2 (or None for all), got {n_way!r}.")
        if n_way > n_classes:
            raise ValueError(f"n_way={n_way} but {data.name!r} has only {n_classes} classes.")
        classes = np.sort(rng.choice(n_classes, size=n_way, replace=False))
    subset = data.select_classes(classes)
    counts = np.bincount(subset.labels, minlength=len(classes))
    if counts.min() < k_shot + keep:
        raise ValueError(
            f"k_shot={k_shot} leaves no test image for some class of {data.name!r} (smallest "
            f"class: {counts.min()} images); use k_shot < {counts.min()}."
            if keep == 1
            else f"k_shot={k_shot} plus {keep - 1} validation image(s) per class leaves no test "
            f"image for some class of {data.name!r} (smallest class: {counts.min()} images); "
            f"use k_shot + val_per_class < {counts.min()}."
        )
    train = np.concatenate(
        [rng.permutation(np.flatnonzero(subset.labels == c))[:k_shot] for c in range(len(classes))]
    )
    positions = np.flatnonzero(np.isin(data.labels, classes))  # select_classes keeps the order
    return subset, np.sort(train), rng, positions


def few_shot_split(
    data: LabelledImages,
    k_shot: int,
    *,
    n_way: int | None = None,
    seed: int = 0,
    return_indices: bool = False,
) -> tuple[LabelledImages, LabelledImages] | tuple[np.ndarray, np.ndarray]:
    """A small labelled training set and a test set: ``k_shot`` images per class to learn from.

    ``n_way`` classes are drawn with ``seed`` (``None`` = every class) and relabelled
    ``0 .. n_way-1``; every other image of those classes goes to the test set.
    ``return_indices=True``: the positions in ``data`` instead (e.g. to pick rows of features
    computed once for all of ``data``); with ``n_way`` the labels of ``data`` are not relabelled.
    """
    subset, train, _, positions = _draw_classes_and_train(data, k_shot, n_way, seed, keep=1)
    test = np.setdiff1d(np.arange(len(subset.labels)), train)
    if return_indices:
        return positions[train], positions[test]
    return subset.take(train), subset.take(test)


def few_shot_split_with_val(
    data: LabelledImages,
    k_shot: int,
    val_per_class: int,
    *,
    n_way: int | None = None,
    seed: int = 0,
    return_indices: bool = False,
) -> tuple[LabelledImages, LabelledImages, LabelledImages] | tuple[np.ndarray, ...]:
    """:func:`few_shot_split` plus a validation set: ``(train, val, test)``, pairwise disjoint.

    ``train`` (and the classes) are exactly those of ``few_shot_split`` with the same arguments;
    ``val_per_class`` images of each class are then drawn from the images it leaves out, and the
    rest is the test set. Choose hyper-parameters on ``val``, report ``test`` once.
    ``return_indices=True``: three arrays of positions in ``data`` instead (see
    :func:`few_shot_split`).
    """
    if (
        isinstance(val_per_class, bool)
        or not isinstance(val_per_class, int | np.integer)
        or val_per_class < 1
    ):
        raise ValueError(f"val_per_class must be a positive integer, got {val_per_class!r}.")
    subset, train, rng, positions = _draw_classes_and_train(
        data, k_shot, n_way, seed, keep=val_per_class + 1
    )
    rest = np.setdiff1d(np.arange(len(subset.labels)), train)
    val = np.concatenate(
        [
            rng.permutation(rest[subset.labels[rest] == c])[:val_per_class]
            for c in range(subset.num_classes)
        ]
    )
    val = np.sort(val)
    test = np.setdiff1d(rest, val)
    if return_indices:
        return positions[train], positions[val], positions[test]
    return subset.take(train), subset.take(val), subset.take(test)
