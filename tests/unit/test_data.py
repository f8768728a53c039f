import numpy as np
import pytest

from course_lib import data
from course_lib.data import cache
from course_lib.data.types import LabelledImages
from course_lib.errors import ArgumentError, ArgumentTypeError, UnknownNameError


def test_digits_are_the_real_sklearn_digits():
    d = data.load_digits()
    assert d.images.shape == (1797, 8, 8) and d.images.dtype == np.float32
    assert d.num_classes == 10 and set(np.unique(d.labels)) == set(range(10))
    assert 0.0 <= d.images.min() and d.images.max() == pytest.approx(1.0)


def test_digits_upsampled_keep_their_content():
    small, big = data.load_digits(), data.load_digits(image_size=28)
    assert big.images.shape == (1797, 28, 28)
    # Upsampling keeps each image's ink: per-image means agree closely.
    corr = np.corrcoef(small.images.mean(axis=(1, 2)), big.images.mean(axis=(1, 2)))[0, 1]
    assert corr > 0.95


@pytest.mark.parametrize("bad", [4, 300, 8.0])
def test_digits_bad_size(bad):
    with pytest.raises(ValueError, match="image_size"):
        data.load_digits(image_size=bad)


def test_sinusoids_follow_the_maml_setup():
    tasks = data.sample_sinusoid_tasks(500, 5, 10, seed=0)
    assert tasks.x_support.shape == (500, 5, 1) and tasks.y_query.shape == (500, 10, 1)
    assert 0.1 <= tasks.amplitude.min() and tasks.amplitude.max() <= 5.0
    assert 0.0 <= tasks.phase.min() and tasks.phase.max() <= np.pi
    assert -5 <= tasks.x_support.min() and tasks.x_query.max() <= 5
    expected = tasks.amplitude[:, None, None] * np.sin(tasks.x_support - tasks.phase[:, None, None])
    np.testing.assert_allclose(tasks.y_support, expected, rtol=1e-5, atol=1e-5)


def test_sinusoids_are_deterministic_per_seed():
    a, b, c = (data.sample_sinusoid_tasks(4, 5, seed=s) for s in (1, 1, 2))
    assert np.array_equal(a.x_support, b.x_support) and np.array_equal(a.amplitude, b.amplitude)
    assert not np.array_equal(a.amplitude, c.amplitude)


def test_sinusoids_bad_arguments():
    with pytest.raises(ValueError, match="k_support"):
        data.sample_sinusoid_tasks(3, 0)


def _toy(n_classes=6, per_class=4):
    labels = np.repeat(np.arange(n_classes), per_class)
    images = np.random.default_rng(0).random((len(labels), 5, 5), dtype=np.float32)
    images[:, 0, 0] = labels  # lets a test see which class an image came from
    return LabelledImages(
        "toy",
        images,
        labels,
        tuple(map(str, range(n_classes))),
        np.arange(n_classes) % 2,
        ("even", "odd"),
    )


def test_episode_sampler_shapes_and_relabelling():
    sampler = data.EpisodeSampler(_toy(), n_way=3, k_shot=2, n_query=2, seed=0)
    ep = sampler.sample()
    assert ep.support_x.shape == (6, 5, 5) and ep.query_x.shape == (6, 5, 5)
    assert list(ep.support_y) == [0, 0, 1, 1, 2, 2]
    # Each relabelled way holds images of exactly the class it maps back to.
    for x, y in ((ep.support_x, ep.support_y), (ep.query_x, ep.query_y)):
        assert np.array_equal(x[:, 0, 0].astype(int), ep.classes[y])
    # Support and query never share an image.
    assert not set(map(bytes, ep.support_x)) & set(map(bytes, ep.query_x))


def test_episode_sampler_is_deterministic():
    a = data.EpisodeSampler(_toy(), 3, 1, 1, seed=5).sample()
    b = data.EpisodeSampler(_toy(), 3, 1, 1, seed=5).sample()
    assert np.array_equal(a.classes, b.classes) and np.array_equal(a.query_x, b.query_x)


def test_episode_sampler_too_many_ways_or_shots():
    with pytest.raises(ValueError, match="Lower n_way, k_shot or n_query"):
        data.EpisodeSampler(_toy(n_classes=4), n_way=5, k_shot=1)
    with pytest.raises(ValueError, match=">= 6 samples"):
        data.EpisodeSampler(_toy(per_class=4), n_way=2, k_shot=5, n_query=1)
    with pytest.raises(ValueError, match="n_way"):
        data.EpisodeSampler(_toy(), n_way=1, k_shot=1)


def test_labelled_images_selection():
    toy = _toy()
    odd = toy.select_groups(["odd"])
    assert odd.class_names == ("1", "3", "5") and set(odd.labels) == {0, 1, 2}
    assert len(toy.take(np.arange(3))) == 3
    with pytest.raises(ValueError, match="unknown groups"):
        toy.select_groups(["prime"])
    with pytest.raises(ValueError, match="out of range"):
        toy.select_classes([0, 9])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        LabelledImages("bad", np.zeros((2, 3)), np.zeros(2), ("a",))


def test_load_dataset_registry():
    assert isinstance(data.load_dataset("digits"), LabelledImages)
    assert len(data.load_dataset("sinusoids", num_tasks=2, k_support=3)) == 2
    with pytest.raises(UnknownNameError, match=r"glyphs.*digits.*sinusoids"):
        data.load_dataset("mnist")


def test_cache_round_trip_and_rebuild_of_damaged_file(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(1000, dtype=np.int64)}

    first = cache.cached_arrays("toy", {"n": 1000}, build)
    again = cache.cached_arrays("toy", {"n": 1000}, build)
    assert len(calls) == 1 and np.array_equal(first["x"], again["x"])
    path = cache.cache_path("toy", {"n": 1000})
    path.write_bytes(path.read_bytes()[:200])  # truncate, as an interrupted copy would
    with pytest.warns(UserWarning, match="damaged.*rebuilding"):
        rebuilt = cache.cached_arrays("toy", {"n": 1000}, build)
    assert len(calls) == 2 and np.array_equal(rebuilt["x"], first["x"])
    assert cache.load_arrays(path)[0]["x"].sum() == first["x"].sum()


def test_cache_detects_modified_content(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    path = tmp_path / "x.npz"
    cache.save_arrays(path, {"x": np.zeros(3)}, {"name": "x"})
    np.savez(path, x=np.ones(3), __meta__=np.frombuffer(b'{"sha256": "0"}', np.uint8))
    with pytest.raises(ValueError, match="checksum"):
        cache.load_arrays(path)
    path.write_text("garbage")
    with pytest.raises(ValueError, match="cannot read"):
        cache.load_arrays(path)


def test_cache_keys_differ_by_parameters(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE_DIR", str(tmp_path))
    assert cache.cache_path("g", {"n": 1}) != cache.cache_path("g", {"n": 2})


def test_few_shot_split_with_val_keeps_the_train_set_and_carves_val_out_of_test():
    digits = data.load_digits()
    train, test = data.few_shot_split(digits, 5, n_way=4, seed=3)
    train2, val, test2 = data.few_shot_split_with_val(digits, 5, 7, n_way=4, seed=3)
    np.testing.assert_array_equal(train2.images, train.images)  # the same K-shot training set
    np.testing.assert_array_equal(train2.labels, train.labels)
    assert train2.class_names == train.class_names == val.class_names == test2.class_names
    assert np.bincount(val.labels, minlength=4).tolist() == [7, 7, 7, 7]
    assert len(val) + len(test2) == len(test)  # val and test share out the old test set
    # pairwise disjoint: no image in two of the three sets
    rows = {
        role: {im.tobytes() for im in part.images}
        for role, part in (("train", train2), ("val", val), ("test", test2))
    }
    assert not rows["train"] & rows["val"] and not rows["val"] & rows["test"]
    assert not rows["train"] & rows["test"]
    again = data.few_shot_split_with_val(digits, 5, 7, n_way=4, seed=3)
    np.testing.assert_array_equal(again[1].images, val.images)
    other = data.few_shot_split_with_val(digits, 5, 7, n_way=4, seed=4)
    assert other[0].class_names != train.class_names or not np.array_equal(
        other[1].images, val.images
    )


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((5, 0), "val_per_class must be a positive integer"),
        ((5, True), "val_per_class must be a positive integer"),
        ((0, 3), "k_shot must be a positive integer"),
        ((100, 100), "validation image"),
    ],
)
def test_few_shot_split_with_val_bad_input(args, match):
    with pytest.raises(ValueError, match=match):
        data.few_shot_split_with_val(data.load_digits(), *args)


@pytest.mark.parametrize("n_way", [None, 4])
def test_split_indices_point_at_the_same_samples(n_way):
    """return_indices=True: positions in the data given, the same samples the split returns."""
    digits = data.load_digits()
    shuffled = digits.take(np.random.default_rng(1).permutation(len(digits)))  # order matters
    for split, args in ((data.few_shot_split, (3,)), (data.few_shot_split_with_val, (3, 5))):
        parts = split(shuffled, *args, n_way=n_way, seed=2)
        where = split(shuffled, *args, n_way=n_way, seed=2, return_indices=True)
        assert len(parts) == len(where)
        for part, idx in zip(parts, where, strict=True):
            assert np.array_equal(shuffled.images[idx], part.images)
            if n_way is None:
                assert np.array_equal(shuffled.labels[idx], part.labels)
        everything = np.concatenate(where)
        assert len(np.unique(everything)) == len(everything)  # disjoint
        classes = np.unique(shuffled.labels[everything])
        assert len(classes) == (n_way or 10)
        if n_way is not None:  # every image of the drawn classes, none of the others
            assert len(everything) == np.isin(shuffled.labels, classes).sum()


def test_resize_arrays_and_labelled_images():
    digits = data.load_digits()
    big = data.resize(digits, 32)
    assert big.images.shape == (len(digits), 32, 32) and big.images.dtype == np.float32
    assert np.array_equal(big.labels, digits.labels) and big.class_names == digits.class_names
    assert np.allclose(data.resize(digits.images, 32), big.images)
    back = data.resize(big.images, 8)  # up then down: close to where it started
    assert np.abs(back - digits.images).mean() < 0.05
    flat = np.full((2, 5, 7), 0.25, np.float32)
    assert np.allclose(data.resize(flat, 9), 0.25)  # a constant image stays constant


@pytest.mark.parametrize(
    ("images", "size", "error", "match"),
    [
        (np.zeros((8, 8)), 16, ArgumentError, r"image\[None\]"),
        (np.zeros((2, 8, 8, 3)), 16, ArgumentError, r"\(N, H, W\)"),
        ([[[0.0]]], 16, ArgumentTypeError, "NumPy array"),
        (np.zeros((2, 8, 8)), 2, ArgumentError, "4 to 512"),
        (np.zeros((2, 8, 8)), 16.0, ArgumentTypeError, "integer"),
        (np.zeros((2, 8, 8)), True, ArgumentTypeError, "integer"),
    ],
)
def test_resize_bad_input(images, size, error, match):
    with pytest.raises(error, match=match):
        data.resize(images, size)
