"""Data augmentation for training batches with torchvision's ``transforms.v2`` (lesson 03).

Mirrors :mod:`course_lib.keras.augment`: the same function, the same arguments.
"""

from __future__ import annotations

import torch
from torch import nn
from torchvision.transforms import v2

from course_lib.training import check_augmentation_args


class Augmentation(nn.Module):
    """Applies ``transform`` to every image of a batch ``(B, C, H, W)`` with its own random draw.

    (A ``transforms.v2`` transform called on a whole batch tensor draws *one* set of parameters
    for all of its images.)
    """

    def __init__(self, transform: nn.Module):
        super().__init__()
        self.transform = transform

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.transform(image) for image in images])


def augmentation(rotation: float = 10.0, shift: float = 0.1, zoom: float = 0.1) -> Augmentation:
    """Random rotations up to ``rotation`` degrees, shifts up to ``shift`` of the image size and
    zooms by up to ``zoom`` (a fraction), background filled with 0; for ``fit(augment=...)``.
    """
    rotation, shift, zoom = check_augmentation_args(rotation, shift, zoom)
    return Augmentation(
        v2.RandomAffine(
            degrees=rotation,
            translate=(shift, shift),
            scale=(1 - zoom, 1 + zoom),
            interpolation=v2.InterpolationMode.BILINEAR,
            fill=0,
        )
    )
