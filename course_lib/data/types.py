"""The one container every image dataset of the course comes in."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from course_lib import checks
from course_lib.errors import ArgumentError


@dataclass(frozen=True)
class LabelledImages:
    """Grayscale images with integer labels, framework-neutral.

    ``images`` is float32 ``(N, H, W)`` in [0, 1] with ink = 1; ``labels`` is int64 ``(N,)`` in
    ``0 .. num_classes-1``. Classes may belong to groups (the alphabets of the glyph set):
    ``class_groups[c]`` is the group index of class ``c`` and ``group_names`` names the groups.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    class_groups: np.ndarray | None = None
    group_names: tuple[str, ...] = field(default=())

    def __post_init__(self) -> None:
        checks.grayscale_images(f"{self.name} images", self.images)
        if len(self.images) != len(self.labels):
            raise ArgumentError(
                f"{self.name}: {len(self.images)} images but {len(self.labels)} labels; give "
                "one label per image."
            )
        checks.class_labels(
            f"{self.name} labels",
            self.labels,
            len(self.class_names),
            classes_from=f"{self.name} names {len(self.class_names)} classes (class_names)",
        )
        if self.class_groups is not None and len(self.class_groups) != len(self.class_names):
            raise ArgumentError(
                f"{self.name}: class_groups has {len(self.class_groups)} entries for "
                f"{len(self.class_names)} classes; give one group index per class."
            )

    def __len__(self) -> int:
        return len(self.labels)

    def __repr__(self) -> str:
        groups = f", {len(self.group_names)} groups" if self.group_names else ""
        return (
            f"LabelledImages({self.name!r}: {len(self)} images of "
            f"{self.images.shape[1]}x{self.images.shape[2]}, {self.num_classes} classes{groups})"
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def take(self, indices: np.ndarray) -> LabelledImages:
        """The samples at ``indices`` (labels and class list unchanged)."""
        indices = np.asarray(indices)
        return LabelledImages(
            self.name,
            self.images[indices],
            self.labels[indices],
            self.class_names,
            self.class_groups,
            self.group_names,
        )

    def with_images(self, images: np.ndarray) -> LabelledImages:
        """The same samples with other images of them (e.g. resized); labels and names kept."""
        return LabelledImages(
            self.name, images, self.labels, self.class_names, self.class_groups, self.group_names
        )

    def select_classes(self, classes: np.ndarray | list[int]) -> LabelledImages:
        """Only the samples of ``classes``, relabelled ``0 .. len(classes)-1`` in that order."""
        classes = np.asarray(classes, dtype=np.int64)
        bad = classes[(classes < 0) | (classes >= self.num_classes)]
        if bad.size:
            raise ValueError(
                f"{self.name}: class indices {bad.tolist()} out of range 0..{self.num_classes - 1}."
            )
        remap = np.full(self.num_classes, -1, dtype=np.int64)
        remap[classes] = np.arange(len(classes))
        keep = remap[self.labels] >= 0
        groups = self.class_groups[classes] if self.class_groups is not None else None
        return LabelledImages(
            self.name,
            self.images[keep],
            remap[self.labels[keep]],
            tuple(self.class_names[c] for c in classes),
            groups,
            self.group_names,
        )

    def select_groups(self, groups: list[str] | tuple[str, ...]) -> LabelledImages:
        """Only the classes of the named groups (alphabets), relabelled from 0."""
        if self.class_groups is None:
            raise ValueError(f"{self.name} has no class groups to select from.")
        unknown = [g for g in groups if g not in self.group_names]
        if unknown:
            raise ValueError(
                f"{self.name}: unknown groups {unknown}; known: {list(self.group_names)}."
            )
        wanted = [self.group_names.index(g) for g in groups]
        return self.select_classes(np.flatnonzero(np.isin(self.class_groups, wanted)))
