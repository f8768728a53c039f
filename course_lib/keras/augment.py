"""Data augmentation for training batches with Keras preprocessing layers (lesson 03).

Mirrors :mod:`course_lib.torch.augment`: the same function, the same arguments.
"""

from __future__ import annotations

import keras

from course_lib.training import check_augmentation_args


def augmentation(rotation: float = 10.0, shift: float = 0.1, zoom: float = 0.1) -> keras.Sequential:
    """Random rotations up to ``rotation`` degrees, shifts up to ``shift`` of the image size and
    zooms by up to ``zoom`` (a fraction), background filled with 0; for ``fit(augment=...)``.

    The layers draw new parameters for every image, and only transform in training mode (they
    pass images through unchanged at inference), so they can also sit inside a model.
    """
    rotation, shift, zoom = check_augmentation_args(rotation, shift, zoom)
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    return keras.Sequential(
        [
            keras.layers.RandomRotation(rotation / 360, **fill),
            keras.layers.RandomTranslation(shift, shift, **fill),
            keras.layers.RandomZoom((-zoom, zoom), **fill),
        ],
        name="augmentation",
    )
