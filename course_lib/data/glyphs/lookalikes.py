"""The look-alike test: is a candidate character drawn like one already kept?

Every glyph is normalized to its bounding box at the reference resolution; two characters are
look-alikes when their outlines lie within a few pixels of each other in the regular fonts both
have (see :func:`_is_duplicate`).
"""

from __future__ import annotations

import numpy as np

from course_lib.data.glyphs.render import _REF

# Look-alike test, at the reference resolution (glyph fitted into _FIT px of a _REF px canvas).
# The distance of two glyphs drawn by one font is the number of ink pixels of either that lie
# farther than _DUP_RADIUS px from the other's ink (the larger count). Over the regular fonts both
# characters have, a pair is a duplicate if the median distance is at most _DUP_PIXELS (they look
# alike in most fonts) or the smallest is at most _DUP_PIXELS_ANY (identical in one font).
_DUP_RADIUS = 3
_DUP_PIXELS = 16
_DUP_PIXELS_ANY = 4
_PREFILTER_COS = 0.6  # cosine of 16x16 pooled images below which a pair is never a duplicate


def _pool(img: np.ndarray) -> np.ndarray:
    v = img.reshape(16, _REF // 16, 16, _REF // 16).mean(axis=(1, 3), dtype=np.float32).ravel()
    return v / max(float(np.linalg.norm(v)), 1e-6)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    out = mask
    for i in range(radius):
        p = np.pad(out, 1)
        out = p[1:-1, 1:-1] | p[:-2, 1:-1] | p[2:, 1:-1] | p[1:-1, :-2] | p[1:-1, 2:]
        if i % 2:  # alternate cross and square steps: a rounder neighbourhood
            out = out | p[:-2, :-2] | p[:-2, 2:] | p[2:, :-2] | p[2:, 2:]
    return out


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.int32)


class _Shape:
    """A glyph at the reference resolution, ready for the look-alike test."""

    __slots__ = ("ink", "near", "vec")

    def __init__(self, img: np.ndarray):
        mask = img >= 128
        self.ink = np.packbits(mask)
        self.near = np.packbits(_dilate(mask, _DUP_RADIUS))
        self.vec = _pool(img)

    def distance(self, other: _Shape) -> int:
        """Ink pixels of either glyph farther than the radius from the other's ink (max of both)."""
        a = int(_POPCOUNT[self.ink & ~other.near].sum())
        b = int(_POPCOUNT[other.ink & ~self.near].sum())
        return max(a, b)


class _Bank:
    """The kept characters drawn by one font: pooled vectors (cosine pre-filter) and ink masks."""

    def __init__(self) -> None:
        self.vecs = np.zeros((256, 256), np.float32)
        self.ink = np.zeros((256, _REF * _REF // 8), np.uint8)
        self.near_ink = np.zeros_like(self.ink)
        self.owners: list[int] = []
        self.row: dict[int, int] = {}

    def add(self, owner: int, shape: _Shape) -> None:
        n = len(self.owners)
        if n == len(self.vecs):
            self.vecs, self.ink, self.near_ink = (
                np.concatenate([a, np.zeros_like(a)]) for a in (self.vecs, self.ink, self.near_ink)
            )
        self.vecs[n], self.ink[n], self.near_ink[n] = shape.vec, shape.ink, shape.near
        self.owners.append(owner)
        self.row[owner] = n

    def near(self, vec: np.ndarray) -> list[int]:
        """Owners whose pooled image has cosine >= _PREFILTER_COS with ``vec``."""
        n = len(self.owners)
        if n == 0:
            return []
        return [self.owners[i] for i in np.flatnonzero(self.vecs[:n] @ vec >= _PREFILTER_COS)]

    def distances(self, shape: _Shape, rows: np.ndarray) -> np.ndarray:
        """:meth:`_Shape.distance` from ``shape`` to the kept glyphs at ``rows``, vectorized."""
        a = _POPCOUNT[shape.ink & ~self.near_ink[rows]].sum(axis=1)
        b = _POPCOUNT[self.ink[rows] & ~shape.near].sum(axis=1)
        return np.maximum(a, b)

    def drop(self, owners: set[int]) -> None:
        keep = [i for i, o in enumerate(self.owners) if o not in owners]
        for arr in (self.vecs, self.ink, self.near_ink):
            arr[: len(keep)] = arr[keep]
        self.owners = [self.owners[i] for i in keep]
        self.row = {o: i for i, o in enumerate(self.owners)}


def _is_duplicate(
    cand: dict[int, _Shape], banks: dict[int, _Bank], shapes: dict[int, dict[int, _Shape]]
) -> bool:
    """True if some kept character looks like ``cand`` in the regular fonts both have."""
    first = next(iter(cand.values()))
    suspects = sorted(set().union(*(banks[f].near(shape.vec) for f, shape in cand.items())))
    if suspects:
        dist = np.full((len(suspects), len(cand)), np.nan)
        for j, (f, shape) in enumerate(cand.items()):
            pairs = [(i, banks[f].row[o]) for i, o in enumerate(suspects) if o in banks[f].row]
            if pairs:
                idx, rows = (np.array(x) for x in zip(*pairs, strict=True))
                dist[idx, j] = banks[f].distances(shape, rows)
        shared = ~np.isnan(dist).all(axis=1)
        if shared.any():
            d = dist[shared]
            if (np.nanmin(d, axis=1) <= _DUP_PIXELS_ANY).any():
                return True
            if (np.nanmedian(d, axis=1) <= _DUP_PIXELS).any():
                return True
        for i in np.flatnonzero(~shared):  # no font in common: compare the first drawings
            if first.distance(next(iter(shapes[suspects[i]].values()))) <= _DUP_PIXELS:
                return True
    for f in banks:  # kept characters drawn by none of cand's fonts, compared across fonts
        if f in cand:
            continue
        for owner in banks[f].near(first.vec):
            other = shapes[owner]
            if not any(g in other for g in cand) and first.distance(other[f]) <= _DUP_PIXELS:
                return True
    return False
