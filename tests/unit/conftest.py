"""Fixtures shared by the unit tests."""

import pytest


@pytest.fixture(params=["torch", "keras"])
def cl(request):
    """The course library of one framework; a test taking ``cl`` runs once for each."""
    if request.param == "torch":
        from course_lib import torch as module
    else:
        from course_lib import keras as module
    return module
