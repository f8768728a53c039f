"""replace_head, features (both frameworks) and few_shot_split: the pieces transfer lessons use."""

import numpy as np
import pytest

from course_lib import config
from course_lib.data import few_shot_split, load_digits
from course_lib.errors import UnknownNameError


@pytest.fixture(params=["torch", "keras"])
def cl(request):
    if request.param == "torch":
        from course_lib import torch as module
    else:
        from course_lib import keras as module
    return module


IMAGES = np.random.default_rng(0).random((6, 28, 28)).astype(np.float32)


def test_replace_head_keeps_the_backbone_and_its_frozen_flags(cl):
    config.seed_everything(0)
    model = cl.small_cnn(50, width=8)
    cl.freeze(model, up_to="block4")
    before = cl.features(model, IMAGES)
    new = cl.replace_head(model, 7)
    assert cl.predict(new, IMAGES).shape == (6, 7)
    np.testing.assert_allclose(cl.features(new, IMAGES), before, rtol=1e-5, atol=1e-6)
    summary = cl.trainable_summary(new)
    # width 8: the frozen backbone has 8,280 parameters; the new head 32 * 7 + 7 = 231
    assert summary.splitlines()[-1].split()[1:] == ["8,511", "231", "(8,280", "frozen)"]


def test_features_are_the_pooled_block4_outputs(cl):
    model = cl.small_cnn(10, width=8)
    feats = cl.features(model, IMAGES)
    assert feats.shape == (6, 32)  # 4 * width
    assert feats.min() >= 0  # after ReLU and average pooling
    assert cl.features(cl.mlp(4, (16, 8), 2), np.ones((3, 4), np.float32)).shape == (3, 8)


def test_features_of_an_earlier_block_are_its_pooled_output(cl):
    model = cl.small_cnn(10, width=8)
    assert cl.features(model, IMAGES, layer="block2").shape == (6, 16)  # 2 * width channels
    assert cl.features(model, IMAGES, layer="block1").shape == (6, 8)
    assert np.array_equal(cl.features(model, IMAGES, layer="block4"), cl.features(model, IMAGES))
    mlp = cl.mlp(4, (16, 8), 2)  # feature vectors pass the pooling unchanged
    assert cl.features(mlp, np.ones((3, 4), np.float32), layer=cl.layer_names(mlp)[0]).shape == (
        3,
        16,
    )
    with pytest.raises(UnknownNameError, match="valid layers: block1"):
        cl.features(model, IMAGES, layer="block9")
    with pytest.raises(ValueError, match="layer='head' is the classifier"):
        cl.features(model, IMAGES, layer="head")


def test_replace_head_of_an_mlp_and_bad_input(cl):
    model = cl.replace_head(cl.mlp(4, (16,), 1), 3)
    assert cl.predict(model, np.ones((2, 4), np.float32)).shape == (2, 3)
    with pytest.raises(ValueError, match="num_classes must be a positive integer"):
        cl.replace_head(cl.small_cnn(10, width=8), 0)


def test_few_shot_split_gives_k_per_class_and_the_rest_for_testing():
    digits = load_digits()
    train, test = few_shot_split(digits, 5, n_way=4, seed=1)
    assert np.bincount(train.labels).tolist() == [5, 5, 5, 4 + 1]
    assert train.num_classes == test.num_classes == 4
    assert len(train) + len(test) == sum(
        int((digits.labels == int(c)).sum()) for c in train.class_names
    )
    again, _ = few_shot_split(digits, 5, n_way=4, seed=1)
    np.testing.assert_array_equal(again.images, train.images)
    everything, _ = few_shot_split(digits, 1)
    assert everything.num_classes == 10 and len(everything) == 10


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k_shot": 0}, "k_shot must be a positive integer"),
        ({"k_shot": 5, "n_way": 11}, "only 10 classes"),
        ({"k_shot": 5, "n_way": 1}, "n_way must be an integer >= 2"),
        ({"k_shot": 500}, "leaves no test image"),
    ],
)
def test_few_shot_split_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        few_shot_split(load_digits(), **kwargs)


def test_unknown_head_is_a_clear_error(cl):
    if cl.FRAMEWORK == "torch":
        from torch import nn

        model = nn.Sequential(nn.Linear(2, 2))
    else:
        import keras

        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="out")])
    with pytest.raises(UnknownNameError, match="valid layers"):
        cl.replace_head(model, 3)


def test_copy_model_is_independent_and_keeps_weights_and_flags(cl):
    config.seed_everything(0)
    model = cl.small_cnn(5, width=8)
    cl.freeze(model, up_to="block3")
    before = cl.predict(model, IMAGES)
    copy = cl.copy_model(model)
    np.testing.assert_allclose(cl.predict(copy, IMAGES), before, rtol=1e-5, atol=1e-6)
    assert cl.trainable_summary(copy) == cl.trainable_summary(model)
    labels = np.arange(6) % 5
    cl.fit(copy, (IMAGES, labels), epochs=2, lr=1e-2, batch_size=3, quiet=True)
    assert not np.allclose(cl.predict(copy, IMAGES), before, atol=1e-4)  # the copy trained
    np.testing.assert_allclose(cl.predict(model, IMAGES), before, rtol=1e-5, atol=1e-6)


def test_copy_model_rejects_what_is_not_a_model(cl):
    with pytest.raises(TypeError, match="copy_model needs"):
        cl.copy_model("small_cnn")
