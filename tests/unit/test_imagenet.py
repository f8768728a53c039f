"""imagenet_backbone: EfficientNet-Lite0 with the same ImageNet weights in both frameworks.

Real photos that ship with the course's dependencies (matplotlib's Grace Hopper, scikit-learn's
two sample photos) go through both networks; the course's block tools work on them as on
small_cnn; the weight file and the cached Keras copy are checked.
"""

import pickle
import shutil

import numpy as np
import pytest

from course_lib import imagenet
from course_lib.errors import ArgumentError, ArgumentTypeError, CheckpointError, UnknownNameError
from course_lib.imagenet import weights

# Measured at 224 px (both frameworks): Grace Hopper -> military uniform 30 % (mortarboard 9 %);
# scikit-learn's china.jpg -> palace 32 % (bell cote 24 %, monastery 7 %); flower.jpg -> daisy
# 21 % (mushroom 9 %). The ImageNet classes that count as right for each photo:
PHOTOS = {
    "grace_hopper": {"military uniform"},
    "china": {"palace", "monastery", "bell cote"},
    "flower": {"daisy"},
}
PARAMETERS = 4_652_008  # EfficientNet-Lite0 with its 1,000-class classifier


def photos(size: int = 224) -> np.ndarray:
    """The three photos of :data:`PHOTOS`, ``(3, size, size, 3)``."""
    names, images = imagenet.sample_photos(size)
    assert names == tuple(PHOTOS)
    return images


_models: dict[str, object] = {}


def imagenet_model(cl):
    """The full ImageNet classifier of ``cl``'s framework, built once per test session."""
    if cl.FRAMEWORK not in _models:
        _models[cl.FRAMEWORK] = cl.imagenet_backbone()
    return _models[cl.FRAMEWORK]


def _both():
    from course_lib import keras as ck
    from course_lib import torch as ct

    return ct, ck


# --- the same network in both frameworks -----------------------------------------------------


def test_the_frameworks_agree_on_real_photos_and_name_them_right():
    ct, ck = _both()
    x = photos()
    logits = {cl.FRAMEWORK: cl.predict(imagenet_model(cl), x) for cl in (ct, ck)}
    assert logits["torch"].shape == logits["keras"].shape == (3, 1000)
    assert np.abs(logits["torch"] - logits["keras"]).max() < 1e-4
    for framework, values in logits.items():
        top1 = [best[0][0] for best in imagenet.top_classes(values, top=1)]
        for name, found in zip(PHOTOS, top1, strict=True):
            assert found in PHOTOS[name], f"{framework}: {name} classified as {found!r}"


def test_grayscale_and_small_images_agree_too():
    """The course's (N, H, W) images in [0, 1] go in as they are (repeated to three channels)."""
    ct, ck = _both()
    gray = photos(64).mean(axis=-1)
    torch_logits = ct.predict(imagenet_model(ct), gray)
    keras_logits = ck.predict(imagenet_model(ck), gray)
    # 64 px is far from ImageNet's 224: logits reach ~45 (at 224 px, 8), and float32 rounding
    # grows with them. Measured: 7.6e-5 (224 px: 8e-6).
    assert np.abs(torch_logits - keras_logits).max() < 3e-4
    rgb = np.repeat(gray[..., None], 3, axis=-1)  # the same images as RGB: the same logits
    assert np.abs(ct.predict(imagenet_model(ct), rgb) - torch_logits).max() < 1e-5


def test_mid_level_features_agree_and_have_each_stages_width():
    """``features(layer=...)``: the pooled output of one block, the same in both frameworks."""
    ct, ck = _both()
    gray = photos(64).mean(axis=-1)
    for layer, width in (("stem", 32), ("block5", 112), ("top", 1280)):
        found = {
            cl.FRAMEWORK: cl.features(imagenet_model(cl), gray, layer=layer) for cl in (ct, ck)
        }
        assert found["torch"].shape == found["keras"].shape == (3, width)
        assert np.abs(found["torch"] - found["keras"]).max() < 1e-4, layer


def test_blocks_and_parameter_counts_match():
    summaries = []
    for cl in _both():
        model = imagenet_model(cl)
        assert cl.layer_names(model) == list(imagenet.BLOCK_NAMES)
        summaries.append(cl.trainable_summary(model))
    assert summaries[0] == summaries[1]  # block by block, parameter by parameter
    assert f"{PARAMETERS:,}" in summaries[0].splitlines()[-1]


# --- the course's tools on the real network --------------------------------------------------


def _weights_of(cl, model, block):
    """Every array of ``block``: parameters and BatchNorm statistics."""
    if cl.FRAMEWORK == "torch":
        state = dict(model.named_children())[block].state_dict()
        return [v.detach().clone().numpy() for v in state.values()]
    return [np.array(v.numpy()) for v in model.get_layer(block).weights]


def _changed(before, after):
    return any(not np.array_equal(a, b) for a, b in zip(before, after, strict=True))


def test_a_new_head_trains_on_a_frozen_backbone_then_blocks_with_their_own_rates(cl):
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 64, 64), dtype=np.float32), rng.integers(0, 4, 16)
    model = cl.imagenet_backbone(4)
    cl.freeze(model, up_to="top")
    before = {b: _weights_of(cl, model, b) for b in ("block7", "top", "head")}
    cl.fit(model, (x, y), epochs=1, lr=1e-3, batch_size=8, quiet=True)
    assert _changed(before["head"], _weights_of(cl, model, "head"))
    assert not _changed(before["block7"], _weights_of(cl, model, "block7"))
    assert not _changed(before["top"], _weights_of(cl, model, "top"))

    cl.unfreeze(model, ["block7", "top"])
    lr = {"block7": 1e-4, "top": 1e-4, "head": 1e-3}
    history = cl.fit(model, (x, y), epochs=1, lr=lr, batch_size=8, quiet=True)
    assert np.isfinite(history["loss"][-1])
    assert _changed(before["block7"], _weights_of(cl, model, "block7"))
    cl.unfreeze(model, "block6")
    with pytest.raises(ArgumentError, match="block6"):  # every trainable block needs a rate
        cl.fit(model, (x, y), epochs=1, lr=lr, batch_size=8, quiet=True)


def test_features_and_replace_head(cl):
    model = imagenet_model(cl)
    x = photos(64)
    features = cl.features(model, x)
    assert features.shape == (3, 1280) and (features >= 0).all()  # pooled ReLU6 outputs
    smaller = cl.replace_head(cl.copy_model(model), 5)
    assert cl.predict(smaller, x).shape == (3, 5)
    assert np.abs(cl.features(smaller, x) - features).max() < 1e-5


def test_num_classes_gives_a_fresh_head_on_the_pretrained_body(cl):
    fresh = cl.imagenet_backbone(3, dropout=0.0)
    full = imagenet_model(cl)
    assert "dropout" not in str(cl.layer_names(fresh)) and cl.predict(fresh, photos(64)).shape == (
        3,
        3,
    )
    for block in ("stem", "block4", "top"):
        assert not _changed(_weights_of(cl, full, block), _weights_of(cl, fresh, block))
    scratch = cl.imagenet_backbone(3, pretrained=False)
    assert _changed(_weights_of(cl, full, "stem"), _weights_of(cl, scratch, "stem"))


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"num_classes": 0}, ArgumentError),
        ({"num_classes": "10"}, ArgumentError),
        ({"num_classes": 2.5}, ArgumentError),
        ({"dropout": 1.0}, ArgumentError),
        ({"pretrained": "yes"}, ArgumentTypeError),
    ],
)
def test_bad_arguments_fail_alike(cl, kwargs, error):
    with pytest.raises(error):
        cl.imagenet_backbone(**kwargs)


def test_images_with_four_channels_are_a_course_error(cl):
    rgba = np.concatenate([photos(64), np.ones((3, 64, 64, 1), np.float32)], axis=-1)
    model = imagenet_model(cl)
    batch = rgba.transpose(0, 3, 1, 2) if cl.FRAMEWORK == "torch" else rgba
    if cl.FRAMEWORK == "torch":
        import torch

        batch = torch.from_numpy(np.ascontiguousarray(batch))
    with pytest.raises(
        ArgumentError, match=r"got 4 channels .*\(3, 64, 64, 4\).*images\[\.\.\., :3\]"
    ):
        model(batch)
    with pytest.raises(ArgumentError):  # through the course's functions: a course error too
        cl.predict(model, rgba)


# --- class names ----------------------------------------------------------------------------


def test_class_names_are_torchvisions():
    from torchvision.models import ResNet50_Weights

    assert imagenet.class_names() == tuple(ResNet50_Weights.IMAGENET1K_V1.meta["categories"])


def test_top_classes():
    logits = np.zeros((2, 1000))
    logits[0, imagenet.class_names().index("military uniform")], logits[1, 1] = 10.0, 3.0
    top = imagenet.top_classes(logits, top=2)
    assert [name for name, _ in top[0]] == ["military uniform", "tench"]  # ties: lower index
    assert top[1][0][0] == "goldfish" and len(top[1]) == 2
    assert top[0][0][1] == pytest.approx(np.exp(10) / (np.exp(10) + 999))
    with pytest.raises(ArgumentError, match=r"\(N, 1000\)"):
        imagenet.top_classes(np.zeros((2, 10)))
    with pytest.raises(ArgumentError, match="top"):
        imagenet.top_classes(logits, top=0)


# --- the weight file and the Keras copy ------------------------------------------------------


def test_the_numpy_reader_gives_what_torch_load_gives():
    import torch

    path = weights.verified_weights_file()
    ours = weights.read_torch_file(path)
    theirs = torch.load(path, map_location="cpu", weights_only=True)
    assert list(ours) == list(theirs)
    assert all(np.array_equal(ours[k], theirs[k].numpy()) for k in theirs)


def test_the_reader_refuses_anything_but_tensors(tmp_path):
    path = tmp_path / "evil.pth"
    with open(path, "wb") as f:
        for header in (1, 1001, {}):
            pickle.dump(header, f)
        pickle.dump(shutil.rmtree, f)  # a function to call: not a tensor
    with pytest.raises(CheckpointError, match="not allowed"):
        weights.read_torch_file(path)


def test_a_wrong_weight_file_is_a_clear_error_in_both_frameworks(monkeypatch, tmp_path):
    damaged = tmp_path / weights.WEIGHTS_NAME
    raw = bytearray(weights.weights_file().read_bytes())
    raw[-1000] ^= 0xFF
    damaged.write_bytes(bytes(raw))
    monkeypatch.setattr(weights, "weights_file", lambda: damaged)
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path / "cache"))  # no Keras copy yet
    for cl in _both():
        with pytest.raises(CheckpointError, match=r"sha256 .*expected 579344248a93e230.*reinstall"):
            cl.imagenet_backbone()


def test_the_keras_copy_is_cached_and_rebuilt_with_a_warning_when_damaged(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    built = []
    build = weights._build_keras_copy
    monkeypatch.setattr(weights, "_build_keras_copy", lambda path: built.append(1) or build(path))
    first = weights.keras_weights()
    path = weights.keras_weights_path()
    assert path.is_file() and path.parent == tmp_path / "imagenet" and len(built) == 1
    assert first["stem.conv.weight"].shape == (3, 3, 3, 32)  # (kh, kw, in, out)
    assert first["block2.mbconv1.depthwise.conv.weight"].shape == (3, 3, 96, 1)
    assert first["head.linear.weight"].shape == (1280, 1000)
    assert not any(k.endswith("num_batches_tracked") for k in first)
    assert weights.keras_weights().keys() == first.keys() and len(built) == 1  # from the cache

    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.warns(UserWarning, match="damaged.*rebuilding"):
        again = weights.keras_weights()
    assert len(built) == 2 and all(np.array_equal(first[k], again[k]) for k in first)


@pytest.mark.parametrize("bad", [8, 2000, 64.0, True, "64"])
def test_sample_photos_bad_size(bad):
    with pytest.raises(ArgumentError, match="16 to 1024"):
        imagenet.sample_photos(bad)


def test_sample_photos_are_rgb_in_unit_range_and_each_caller_gets_its_own():
    names, images = imagenet.sample_photos(32)
    assert names == imagenet.PHOTO_NAMES and images.shape == (3, 32, 32, 3)
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1
    images[0] = 0.0  # a caller drawing on its copy
    assert imagenet.sample_photos(32)[1][0].max() > 0  # does not change the next caller's


def test_several_layers_in_one_pass_equal_one_layer_at_a_time():
    """``features(layer=[...])``: a dict per block, each equal to asking for that block alone,
    the same in both frameworks; listed in any order, returned in the network's order."""
    ct, ck = _both()
    gray = photos(64).mean(axis=-1)
    layers = ["top", "stem", "block5"]
    found = {cl.FRAMEWORK: cl.features(imagenet_model(cl), gray, layer=layers) for cl in (ct, ck)}
    for cl in (ct, ck):
        several = found[cl.FRAMEWORK]
        assert list(several) == ["stem", "block5", "top"]
        for layer in layers:
            alone = cl.features(imagenet_model(cl), gray, layer=layer)
            assert several[layer].shape == alone.shape
            assert np.abs(several[layer] - alone).max() < 1e-5, (cl.FRAMEWORK, layer)
    for layer in layers:
        assert np.abs(found["torch"][layer] - found["keras"][layer]).max() < 1e-4, layer


@pytest.mark.parametrize(
    ("layers", "error", "match"),
    [
        ([], ArgumentTypeError, "non-empty list"),
        (("block2", "block2"), ArgumentError, "twice"),
        (["block2", "nope"], UnknownNameError, "nope"),
        (["head"], ArgumentError, "classifier"),
        (7, ArgumentTypeError, "block name"),
    ],
)
def test_several_layers_bad_input(layers, error, match):
    for cl in _both():
        with pytest.raises(error, match=match):
            cl.features(imagenet_model(cl), np.zeros((2, 32, 32), np.float32), layer=layers)
