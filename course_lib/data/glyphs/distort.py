"""Distorted samples: random rotation, scale, shear, shift and stroke width, vectorized in NumPy.

The masters are eroded or dilated (stroke width), then affine-warped by the inverse map with
bilinear sampling at twice the output size and 2x2 average pooling.
"""

from __future__ import annotations

import numpy as np

from course_lib import config
from course_lib.data.glyphs.progress import _progress
from course_lib.data.glyphs.render import _FIT, _REF, _render_masters

# Distortions, in output pixels for a 28x28 image (scaled with image_size).
_GLYPH_FRACTION = 0.75  # longest side of the undistorted glyph, as a fraction of the image
_ROTATION_DEG = 15.0
_SCALE = (0.85, 1.10)
_ASPECT = 0.10  # log aspect ratio range
_SHEAR = 0.20
_SHIFT_PX = 1.5
_MARGIN_PX = 1.0
_STROKES = (-1, 0, 1, 2)  # thin (erode), normal, bold (dilate cross), heavier (dilate 3x3)
_STROKE_P = (0.2, 0.45, 0.25, 0.1)


def _draw_params(r: np.random.Generator, n: int, n_fonts: np.ndarray) -> dict[str, np.ndarray]:
    """All random choices for ``n`` samples, drawn in one fixed order (batching is irrelevant)."""
    return {
        "font": np.minimum((r.random(n) * n_fonts).astype(np.int64), n_fonts - 1),
        "angle": np.deg2rad(r.uniform(-_ROTATION_DEG, _ROTATION_DEG, n)),
        "scale": r.uniform(*_SCALE, n),
        "aspect": np.exp(r.uniform(-_ASPECT, _ASPECT, n)),
        "shear": r.uniform(-_SHEAR, _SHEAR, n),
        "shift": r.uniform(-1.0, 1.0, (n, 2)),
        "stroke": r.choice(np.array(_STROKES), size=n, p=np.array(_STROKE_P)),
    }


def _stroke(batch: np.ndarray, strokes: np.ndarray) -> np.ndarray:
    """Erode (-1) or dilate (+1 cross, +2 square) padded masters (B, H, W) in place."""
    for level in (-1, 1, 2):
        sel = np.flatnonzero(strokes == level)
        if sel.size == 0:
            continue
        x = batch[sel]
        p = np.pad(x, ((0, 0), (1, 1), (1, 1)))
        cross = [p[:, :-2, 1:-1], p[:, 2:, 1:-1], p[:, 1:-1, :-2], p[:, 1:-1, 2:]]
        if level == -1:
            y = np.minimum.reduce([x, *cross])
            # hairline glyphs would all but vanish: keep those at their normal stroke
            faint = y.sum(axis=(1, 2)) < 0.5 * x.sum(axis=(1, 2))
            y[faint] = x[faint]
        else:
            y = np.maximum.reduce([x, *cross])
            if level == 2:
                y = np.maximum.reduce(
                    [y, p[:, :-2, :-2], p[:, :-2, 2:], p[:, 2:, :-2], p[:, 2:, 2:]]
                )
        batch[sel] = y
    return batch


def _warp(
    masters: np.ndarray, extents: np.ndarray, prm: dict[str, np.ndarray], size: int
) -> np.ndarray:
    """Affine-warp masters (B, M, M) float32 to (B, size, size) uint8, anti-aliased 2x."""
    b, m = masters.shape[0], masters.shape[1]
    out2 = 2 * size
    unit = size / 28.0  # distortion amounts are given for 28x28 images
    base = _GLYPH_FRACTION * out2 / (_FIT * m / _REF)  # master glyphs fit in _FIT * m / _REF px
    cos, sin = np.cos(prm["angle"]), np.sin(prm["angle"])
    s = prm["scale"] * base
    sx, sy = s * prm["aspect"], s / prm["aspect"]
    k = prm["shear"]
    # forward linear map (master -> output, centred): R @ Shear @ diag(sx, sy)
    lin = np.empty((b, 2, 2))
    lin[:, 0, 0] = cos * sx
    lin[:, 0, 1] = (cos * k - sin) * sy
    lin[:, 1, 0] = sin * sx
    lin[:, 1, 1] = (sin * k + cos) * sy
    # keep the glyph's box inside the image: shrink if needed, then clamp the shift
    half = np.abs(lin) @ extents[:, :, None]  # (B, 2, 1): half extents in output px (x, y)
    half = half[:, :, 0]
    room = out2 / 2 - 2 * _MARGIN_PX * unit
    shrink = np.minimum(1.0, room / np.maximum(half.max(axis=1), 1e-6))
    lin *= shrink[:, None, None]
    half *= shrink[:, None]
    limit = np.maximum(room - half, 0.0)
    shift = np.clip(prm["shift"] * 2 * _SHIFT_PX * unit, -limit, limit)
    inv = np.linalg.inv(lin).astype(np.float32)

    # output pixel centres (2x grid), relative to the centre, minus the shift
    grid = (np.arange(out2, dtype=np.float32) + 0.5) - out2 / 2
    gx = grid[None, None, :] - shift[:, 0, None, None].astype(np.float32)
    gy = grid[None, :, None] - shift[:, 1, None, None].astype(np.float32)
    # source coordinates in the zero-padded master (pixel centre i at i + 1.5 - 1 = i + 0.5 + 1)
    centre = m / 2 + 0.5  # padded index of the master's centre, minus half a pixel
    src_x = inv[:, 0, 0, None, None] * gx + inv[:, 0, 1, None, None] * gy + centre
    src_y = inv[:, 1, 0, None, None] * gx + inv[:, 1, 1, None, None] * gy + centre
    np.clip(src_x, 0, m + 1, out=src_x)
    np.clip(src_y, 0, m + 1, out=src_y)
    x0 = np.minimum(src_x.astype(np.int32), m)
    y0 = np.minimum(src_y.astype(np.int32), m)
    fx = src_x - x0
    fy = src_y - y0
    padded = np.pad(masters, ((0, 0), (1, 1), (1, 1)))
    w = m + 2
    flat = padded.reshape(-1)
    idx = (np.arange(b, dtype=np.int32) * (w * w))[:, None, None] + y0 * w + x0
    top = flat[idx] * (1 - fx) + flat[idx + 1] * fx
    bottom = flat[idx + w] * (1 - fx) + flat[idx + w + 1] * fx
    img = top * (1 - fy) + bottom * fy
    img = img.reshape(b, size, 2, size, 2).mean(axis=(2, 4))
    return np.rint(np.clip(img, 0.0, 1.0) * 255).astype(np.uint8)


def _build_images(
    cat: dict[str, np.ndarray], samples_per_char: int, image_size: int, seed: int, progress: bool
) -> dict[str, np.ndarray]:
    canvas = _REF if image_size <= 32 else 2 * _REF
    masters, extents, rows_of = _render_masters(cat, canvas, progress)
    n_chars = len(rows_of)
    n = n_chars * samples_per_char
    labels = np.repeat(np.arange(n_chars, dtype=np.int64), samples_per_char)
    n_fonts = np.array([len(r) for r in rows_of])
    prm = _draw_params(config.rng(seed), n, n_fonts[labels])
    # row of the master each sample draws: the chosen font among the char's drawing fonts
    offsets = np.concatenate([[0], np.cumsum(n_fonts)[:-1]])
    which_all = np.concatenate(rows_of)[offsets[labels] + prm["font"]]

    images = np.empty((n, image_size, image_size), dtype=np.uint8)
    batch_size = max(64, 2**20 // (4 * image_size * image_size))  # ~4 MB of output per batch
    bar = _progress(n, "glyphs: drawing samples", "img", progress)
    for b0 in range(0, n, batch_size):
        sel = slice(b0, min(n, b0 + batch_size))
        which = which_all[sel]
        batch = _stroke(masters[which].astype(np.float32) / 255.0, prm["stroke"][sel])
        images[sel] = _warp(batch, extents[which], {k: v[sel] for k, v in prm.items()}, image_size)
        bar.update(sel.stop - sel.start)
    bar.close()
    return {"images": images, "labels": labels}
