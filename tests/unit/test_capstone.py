"""Lesson 06's framework-neutral pieces: prototypes, closeness, the playbook, the two-task data,
and the claims table the capstone prints from the earlier lessons' results files."""

import numpy as np
import pytest

from course_lib import capstone, report
from course_lib.data.types import LabelledImages
from course_lib.errors import UnknownNameError
from course_lib.multitask import MISSING
from course_lib.results import LessonResults, read_results


def _images(name, n_classes, per_class, seed, size=6):
    r = np.random.default_rng(seed)
    labels = np.repeat(np.arange(n_classes), per_class)
    centres = r.normal(size=(n_classes, size, size))
    images = (centres[labels] + 0.1 * r.normal(size=(len(labels), size, size))).astype(np.float32)
    return LabelledImages(name, images, labels, tuple(f"{name}{c}" for c in range(n_classes)))


def test_nearest_class_mean_finds_well_separated_classes():
    train, test = _images("a", 4, 3, 0), _images("a", 4, 5, 0)
    predicted = capstone.nearest_class_mean(train.images, train.labels, test.images)
    assert predicted.shape == (20,)
    np.testing.assert_array_equal(predicted, test.labels)
    assert (
        capstone.nearest_class_mean_accuracy(train.images, train.labels, test.images, test.labels)
        == 1.0
    )


def test_nearest_class_mean_keeps_the_training_labels_even_when_some_are_absent():
    x = np.array([[0.0], [0.1], [10.0], [10.2]])
    y = np.array([2, 2, 7, 7])
    predicted = capstone.nearest_class_mean(x, y, np.array([[9.0], [1.0]]))
    np.testing.assert_array_equal(predicted, [7, 2])


def test_nearest_class_mean_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="same network"):
        capstone.nearest_class_mean(np.zeros((4, 3)), np.arange(4), np.zeros((2, 5)))
    with pytest.raises(ValueError, match="integer labels"):
        capstone.nearest_class_mean(np.zeros((4, 3)), np.zeros(4), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="N >= 1"):
        capstone.nearest_class_mean(np.zeros((0, 3)), np.zeros(0, int), np.zeros((2, 3)))


def test_leave_one_out_matches_a_loop_that_drops_each_row():
    r = np.random.default_rng(3)
    x, y = r.normal(size=(15, 4)), np.repeat(np.arange(5), 3)
    hits = []
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        hits.append(capstone.nearest_class_mean(x[keep], y[keep], x[i : i + 1])[0] == y[i])
    assert capstone.leave_one_out_accuracy(x, y) == pytest.approx(np.mean(hits))
    # two images per class: each one is judged against the other one alone
    assert capstone.leave_one_out_accuracy(np.array([[0.0], [1.0], [9.0], [10.0]]),
                                           np.array([4, 4, 8, 8])) == 1.0  # fmt: skip


def test_leave_one_out_needs_two_images_per_class():
    with pytest.raises(ValueError, match=r"at least 2 labelled images per class.*class 1 has 1"):
        capstone.leave_one_out_accuracy(np.zeros((3, 2)), np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="at least 2 classes"):
        capstone.leave_one_out_accuracy(np.zeros((3, 2)), np.array([0, 0, 0]))
    with pytest.raises(ValueError, match="integer labels"):
        capstone.leave_one_out_accuracy(np.zeros((4, 2)), np.zeros(4))


def test_closeness_is_features_minus_pixels_on_the_training_images_only():
    train = _images("a", 3, 4, 1)
    # features that scramble the classes: worse than pixels
    r = np.random.default_rng(0)
    c = capstone.closeness(train, r.normal(size=(12, 5)))
    assert c["pixels"] == 100.0
    assert c["points"] == pytest.approx(c["features"] - c["pixels"])
    assert c["points"] < 0
    with pytest.raises(ValueError, match=r"cl\.features"):
        capstone.closeness(train, np.zeros((3, 5)))
    with pytest.raises(TypeError, match="LabelledImages"):
        capstone.closeness(train.images, np.zeros((12, 5)))
    one_each = _images("a", 3, 1, 1)  # K = 1: nothing to leave one out from
    with pytest.raises(ValueError, match="K >= 2"):
        capstone.closeness(one_each, np.zeros((3, 5)))


def test_playbook_follows_the_three_questions():
    close_few = capstone.shortlist(capstone.playbook(5, 30.0, related_task=True))
    assert close_few[0] == "linear probe" and "prototypes" in close_few
    close_many = capstone.shortlist(capstone.playbook(50, 30.0, related_task=False))
    assert close_many[0] == "gradual unfreezing" and "prototypes" not in close_many
    far = capstone.shortlist(capstone.playbook(10, 0.5, related_task=True))
    assert far[0] == "multi-task" and "from scratch" in far and "linear probe" not in far
    far_alone = capstone.shortlist(capstone.playbook(10, 0.5, related_task=False))
    assert "multi-task" not in far_alone
    for names in (close_few, close_many, far, far_alone):
        assert capstone.check_strategies(names) == names
    advice = capstone.playbook(5, 30.0, related_task=True)
    assert all("lesson" in a.reason for a in advice)
    assert str(advice[0]).startswith("linear probe: ")


def test_playbook_rejects_bad_answers():
    with pytest.raises(ValueError, match="labels_per_class"):
        capstone.playbook(0, 3.0, True)
    with pytest.raises(TypeError, match="closeness"):
        capstone.playbook(5, "close", True)
    with pytest.raises(TypeError, match="True or False"):
        capstone.playbook(5, 3.0, "yes")


def test_with_source_task_labels_each_image_for_one_task():
    train, source = _images("t", 3, 2, 0), _images("s", 8, 5, 1)
    both = capstone.with_source_task(train, source, chars=4, per_char=3, seed=0)
    assert both.tasks == ("target", "source")
    assert both.count("target") == 6 and both.count("source") == 12
    assert both.num_classes == {"target": 3, "source": 4}
    assert np.all((both.labels["target"] == MISSING) != (both.labels["source"] == MISSING))
    np.testing.assert_array_equal(both.images[:6], train.images)
    assert sorted(set(both.labels["source"][6:].tolist())) == [0, 1, 2, 3]
    again = capstone.with_source_task(train, source, chars=4, per_char=3, seed=0)
    np.testing.assert_array_equal(again.images, both.images)
    other = capstone.with_source_task(train, source, chars=4, per_char=3, seed=1)
    assert not np.array_equal(other.images, both.images)


def test_with_source_task_rejects_bad_sizes():
    train, source = _images("t", 3, 2, 0), _images("s", 8, 5, 1)
    with pytest.raises(ValueError, match="8 classes"):
        capstone.with_source_task(train, source, chars=9, per_char=3)
    with pytest.raises(ValueError, match="lower per_char"):
        capstone.with_source_task(train, source, chars=4, per_char=6)
    with pytest.raises(ValueError, match="same size"):
        capstone.with_source_task(_images("t", 3, 2, 0, size=5), source, chars=4, per_char=3)
    with pytest.raises(TypeError, match="LabelledImages"):
        capstone.with_source_task(train.images, source, chars=4, per_char=3)


def test_as_task_and_best_of():
    data = _images("t", 3, 2, 0)
    single = capstone.as_task(data)
    assert single.tasks == ("target",) and single.count("target") == 6
    means = {"from scratch": 50.0, "linear probe": 70.0, "prototypes": 65.0}
    assert capstone.best_of(means, ["from scratch", "prototypes"]) == ("prototypes", 65.0)
    with pytest.raises(UnknownNameError, match="Unknown strategy 'fine-tune'"):
        capstone.best_of(means, ["fine-tune"])
    with pytest.raises(UnknownNameError, match="No result for 'multi-task'"):
        capstone.best_of(means, ["multi-task"])


def test_claims_table_lists_every_claim_once_with_both_frameworks(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    assert "run the earlier lessons" in report.claims_table([])
    torch_run = LessonResults("01_transfer", "torch", mode="teaching")
    torch_run.claim("probe beats scratch (points)", 21.5, 15)
    torch_run.claim("a claim that fails", 1.0, 5.0)
    torch_run.save()
    keras_run = LessonResults("01_transfer", "keras", mode="smoke")
    keras_run.claim("probe beats scratch (points)", 19.25, 15)
    keras_run.save()
    text = report.claims_table(read_results(tmp_path / "results"))
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["lesson", "torch", "keras"]
    probe = next(line for line in lines if "probe beats scratch" in line)
    assert probe.split()[:6] == ["01_transfer", "21.5", "holds", "19.25", "holds", ">="]
    failed = next(line for line in lines if "a claim that fails" in line)
    assert " NO " in failed and "–" in failed
    assert "2 of 3 claims hold" in lines[-1]
    assert "01_transfer keras: smoke" in lines[-1]
