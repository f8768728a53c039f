"""The exercise pipeline: solution regions -> student copies, and the feedback of the checks."""

import inspect
import json
import re

import nbformat
import numpy as np
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from course_lib import cli
from course_lib.errors import CourseError
from course_lib.exercises import build, checks, lesson00
from course_lib.exercises.checks import ExerciseCheckError

TODO = build.TODO_LINES

# ---------------------------------------------------------------------------------------------
# strip_solutions
# ---------------------------------------------------------------------------------------------
SOURCE = """\
import numpy as np


def f(x):
    \"\"\"Double x.\"\"\"
    ### BEGIN SOLUTION
    y = 2 * x
    return y
    ### END SOLUTION


y = f(3)  # outside: kept
"""


def test_region_becomes_a_todo_at_the_begin_lines_indentation():
    out = build.strip_solutions(SOURCE)
    assert "2 * x" not in out and "SOLUTION" not in out
    assert f"    {TODO[0]}\n    {TODO[1]}\n" in out
    assert out.startswith('import numpy as np\n\n\ndef f(x):\n    """Double x."""\n')
    assert out.endswith("\n\ny = f(3)  # outside: kept\n")


def test_text_outside_regions_is_untouched():
    text = "a = 1\n  b = '### not a marker'\n\n# comment  \n"
    assert build.strip_solutions(text) == text
    assert build.strip_solutions("") == ""


def test_several_regions_and_a_top_level_one():
    text = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION\nz = 0\n" + "\n".join(
        ["if z:", "        ### BEGIN SOLUTION", "        pass", "        ### END SOLUTION"]
    )
    out = build.strip_solutions(text)
    assert out.splitlines() == [
        TODO[0],
        TODO[1],
        "z = 0",
        "if z:",
        "        " + TODO[0],
        "        " + TODO[1],
    ]
    assert build.count_regions(text) == 2


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("x = 1\n### END SOLUTION\n", r"cell 7, line 2: `### END SOLUTION` without"),
        ("### BEGIN SOLUTION\nx = 1\n", r"cell 7, line 1: `### BEGIN SOLUTION` is never closed"),
        (
            "### BEGIN SOLUTION\n  ### BEGIN SOLUTION\n### END SOLUTION\n### END SOLUTION",
            r"cell 7, line 2: .*regions cannot nest",
        ),
    ],
)
def test_unbalanced_or_nested_markers_name_the_cell_and_line(text, match):
    with pytest.raises(ValueError, match=match):
        build.strip_solutions(text, where="cell 7")


def test_student_path_and_bad_names(tmp_path):
    src = tmp_path / "solutions" / "03_reg_solutions.ipynb"
    assert build.student_path(src) == tmp_path / "03_reg_exercises.ipynb"
    with pytest.raises(ValueError, match=r"_solutions\.ipynb"):
        build.student_path(tmp_path / "solutions" / "03_reg.ipynb")


# ---------------------------------------------------------------------------------------------
# Notebooks
# ---------------------------------------------------------------------------------------------
def _solution_notebook(path, body="    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION"):
    nb = new_notebook(
        cells=[
            new_markdown_cell("# Exercises\nSee [lesson](../notebooks/00_setup_pytorch.ipynb)."),
            new_code_cell(
                f"def f(x):\n{body}",
                execution_count=3,
                outputs=[new_output("stream", text="secret answer 42\n")],
            ),
            new_markdown_cell("The answer is 2x.", metadata={"tags": ["solution"]}),
            new_code_cell(
                "# NBVAL_CHECK_OUTPUT\nprint(f(21))",
                execution_count=4,
                outputs=[new_output("stream", text="42\n")],
            ),
            new_code_cell("check_f(f)"),
        ],
        metadata={
            "kernelspec": {
                "name": "post-training-course",
                "display_name": "x",
                "language": "python",
            }
        },
    )
    for i, cell in enumerate(nb.cells):
        cell["id"] = f"c{i}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")
    return path


def test_student_notebook_strips_regions_outputs_and_solution_cells(tmp_path):
    src = _solution_notebook(tmp_path / "solutions" / "00_x_solutions.ipynb")
    dst = build.build_student_notebook(src, tmp_path / "00_x_exercises.ipynb")
    text = dst.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert [c.id for c in nb.cells] == ["c0", "c1", "c3", "c4"]  # the 'solution' cell is gone
    assert nb.cells[1].source == f"def f(x):\n    {TODO[0]}\n    {TODO[1]}"
    assert all(c.outputs == [] and c.execution_count is None for c in nb.cells[1:])
    assert "2 * x" not in text and "42" not in text and "answer is" not in text
    assert "../notebooks/00_setup_pytorch.ipynb" in text  # links are copied as written
    assert nb.metadata.kernelspec.name == "post-training-course"
    assert nb.metadata.course["generated_from"] == "solutions/00_x_solutions.ipynb"
    assert build.render_student_notebook(src) == text  # deterministic


def test_markers_outside_code_cells_and_missing_ids_are_errors(tmp_path):
    src = _solution_notebook(tmp_path / "solutions" / "00_x_solutions.ipynb")
    nb = nbformat.read(src, as_version=4)
    nb.cells[0].source += "\n### BEGIN SOLUTION\nsecret\n### END SOLUTION"
    nbformat.write(nb, src)
    with pytest.raises(ValueError, match=r"cell 0 \(id 'c0'\): solution markers only work"):
        build.render_student_notebook(src)
    raw = json.loads(src.read_text())
    del raw["cells"][1]["id"]
    src.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match=r"cells \[1\] have no id"):
        build.render_student_notebook(src)


def test_bad_region_in_a_notebook_names_file_and_cell(tmp_path):
    src = _solution_notebook(
        tmp_path / "solutions" / "00_x_solutions.ipynb", body="    ### BEGIN SOLUTION\n    pass"
    )
    with pytest.raises(ValueError, match=r"00_x_solutions.ipynb, cell 1 \(id 'c1'\), line 2"):
        build.render_student_notebook(src)


def test_build_all_check_mode_finds_stale_copies_and_writes_nothing(tmp_path):
    src = _solution_notebook(tmp_path / "solutions" / "00_x_solutions.ipynb")
    dst = tmp_path / "00_x_exercises.ipynb"
    assert build.build_all(check=True, directory=tmp_path) == [dst]  # missing copy
    assert not dst.exists()
    assert build.build_all(directory=tmp_path) == [dst]
    assert build.build_all(check=True, directory=tmp_path) == []
    assert build.build_all(directory=tmp_path) == []  # nothing to do
    nb = nbformat.read(src, as_version=4)
    nb.cells[0].source += "\nMore text."
    nbformat.write(nb, src)
    before = dst.read_text()
    assert build.build_all(check=True, directory=tmp_path) == [dst]
    assert dst.read_text() == before
    assert build.build_all(directory=tmp_path) == [dst]
    assert "More text." in dst.read_text()


def test_build_all_keeps_a_copy_a_learner_worked_in_unless_forced(tmp_path):
    src = _solution_notebook(tmp_path / "solutions" / "00_x_solutions.ipynb")
    dst = tmp_path / "00_x_exercises.ipynb"
    build.build_all(directory=tmp_path)
    nb = nbformat.read(dst, as_version=4)
    nb.cells[1].source = "def f(x):\n    return 2 * x"
    nb.cells[1].execution_count = 1
    nbformat.write(nb, dst)
    with pytest.raises(CourseError, match="--force"):
        build.build_all(directory=tmp_path)
    assert "return 2 * x" in dst.read_text()
    assert build.build_all(directory=tmp_path, force=True) == [dst]
    assert dst.read_text() == build.render_student_notebook(src)


def test_cli_exercises_build_and_check(tmp_path, monkeypatch, capsys):
    _solution_notebook(tmp_path / "solutions" / "00_x_solutions.ipynb")
    monkeypatch.setattr(build, "exercises_dir", lambda: tmp_path)
    assert cli.main(["exercises", "build", "--check"]) == 1
    captured = capsys.readouterr()
    assert "stale:" in captured.out and "00_x_exercises.ipynb" in captured.out
    assert "run `course exercises build`" in captured.err
    assert cli.main(["exercises", "build"]) == 0
    assert "built" in capsys.readouterr().out
    assert cli.main(["exercises", "build", "--check"]) == 0
    assert "1 student copy up to date" in capsys.readouterr().out
    assert "exercises" in cli.build_parser().format_help()


# ---------------------------------------------------------------------------------------------
# checks.py
# ---------------------------------------------------------------------------------------------
def test_run_checks_reports_the_first_failure_and_how_many_passed(capsys):
    def fail():
        raise ExerciseCheckError("the thing is 3, expected 4")

    with pytest.raises(ExerciseCheckError) as info:
        checks.run_checks(
            "f",
            [("one", lambda: None), ("two", lambda: None), ("three", fail), ("four", lambda: None)],
        )
    message = str(info.value)
    assert "f: check 3 of 4 failed — three" in message
    assert "the thing is 3, expected 4" in message and "2 checks passed before" in message
    checks.run_checks("f", [("one", lambda: None)])
    assert capsys.readouterr().out.strip().splitlines()[-1] == "✓ f: all 1 checks passed"


def test_check_that_cannot_inspect_an_odd_result_says_so():
    def odd():
        raise TypeError("unhashable type")

    with pytest.raises(ExerciseCheckError, match=r"could not inspect your result: TypeError"):
        checks.run_checks("f", [("x", odd)])


def test_expect_helpers_name_the_problem():
    with pytest.raises(ExerciseCheckError, match=r"the result is a list, expected a numpy.ndarray"):
        checks.expect_type([1], np.ndarray, "the result")
    with pytest.raises(ExerciseCheckError, match=r"has shape \(2, 3\), expected \(3, 2\)"):
        checks.expect_shape(np.zeros((2, 3)), (3, 2), "x")
    with pytest.raises(ExerciseCheckError, match="has dtype float64, expected dtype float32"):
        checks.expect_dtype(np.zeros(2), np.float32, "x")
    with pytest.raises(ExerciseCheckError, match="expected an integer dtype"):
        checks.expect_dtype(np.zeros(2), np.integer, "x")
    checks.expect_dtype(np.zeros(2, dtype=np.int32), np.integer, "x")
    bad = np.zeros((2, 4, 5))
    bad[1, 2, 3] = np.nan
    with pytest.raises(ExerciseCheckError, match=r"1 NaN and 0 infinite .*image 1, row 2, col 3"):
        checks.expect_finite(bad, "x", index_names=("image", "row", "col"))


def test_expect_close_counts_and_locates_differences_without_showing_expected():
    expected = np.linspace(-1, 1, 640).reshape(10, 8, 8)
    got = expected.copy()
    got[2, 3, 5] += 0.41
    got[4, 0, 0] -= 0.2
    got[7, 7, 7] += 0.1
    with pytest.raises(ExerciseCheckError) as info:
        checks.expect_close(
            got, expected, "out", atol=1e-4, unit="pixels", index_names=("image", "row", "col")
        )
    message = str(info.value)
    assert "3 of 640 pixels differ by more than 0.0001, max by 0.41" in message
    assert "image 2, row 3, col 5" in message
    assert f"{expected[2, 3, 5]:.3g}" not in message


def test_a_function_that_is_not_implemented_yet_and_one_that_crashes():
    def todo(x):
        raise NotImplementedError("Replace this line")

    with pytest.raises(ExerciseCheckError) as info:
        checks.call(todo, 1)
    assert info.value.not_implemented
    assert (
        "`todo` is not implemented yet: replace the `raise NotImplementedError` line in the "
        "cell that defines `todo`" in str(info.value)
    )

    def crash(x):
        return x["missing"]

    with pytest.raises(ExerciseCheckError, match=r"`crash` raised IndexError: .*\(3,\)") as info:
        checks.call(crash, np.zeros(3))
    assert isinstance(info.value.__cause__, IndexError)  # the learner's traceback stays visible


def test_skip_if_not_implemented_only_swallows_not_implemented(capsys):
    with checks.skip_if_not_implemented():
        raise NotImplementedError
    assert "Not implemented yet" in capsys.readouterr().out
    with pytest.raises(ValueError), checks.skip_if_not_implemented():
        raise ValueError("a real bug")


def test_checks_want_the_function_not_its_result():
    wanted = r"not check_standardize_images\(my_function\(\)\)"
    with pytest.raises(ExerciseCheckError, match=wanted):
        lesson00.check_standardize_images(np.zeros((1, 2, 2)))
    with pytest.raises(ExerciseCheckError, match="expects your function itself"):
        lesson00.check_sample_episode(None)


# ---------------------------------------------------------------------------------------------
# Lesson 00: standardize_images
# ---------------------------------------------------------------------------------------------
def _std_ref(images):
    return lesson00._reference_standardize_images(images)


def _global(images):
    x = np.asarray(images, dtype=np.float64)
    return ((x - x.mean()) / (x.std() + 1e-6)).astype(np.float32)


def _no_eps(images):
    x = np.asarray(images, dtype=np.float64)
    centred = x - x.mean(axis=(1, 2), keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (centred / x.std(axis=(1, 2), keepdims=True)).astype(np.float32)


def _in_place(images):
    images -= images.mean(axis=(1, 2), keepdims=True)
    images /= images.std(axis=(1, 2), keepdims=True) + 1e-6
    return images.astype(np.float32)


def _flattened(images):
    return _std_ref(images).reshape(len(images), -1)


def _float64(images):
    return _std_ref(images).astype(np.float64)


def _sample_std(images):
    x = np.asarray(images, dtype=np.float64)
    std = x.std(axis=(1, 2), ddof=1, keepdims=True)
    return ((x - x.mean(axis=(1, 2), keepdims=True)) / (std + 1e-6)).astype(np.float32)


def _off_for_one_image(images):
    out = _std_ref(images)
    if len(out) == 5:  # only the value check uses 5 images: every other check passes
        out[3, 0, 0] += 0.5
    return out


def _list(images):
    return _std_ref(images).tolist()


def _todo(images):
    raise NotImplementedError("Replace this line with your solution (see the TODO above).")


def test_reference_standardize_passes_its_check(capsys):
    lesson00.check_standardize_images(_std_ref)
    assert "✓ _std_ref: all 6 checks passed" in capsys.readouterr().out


def _feedback(check, fn):
    with pytest.raises(ExerciseCheckError) as info:
        check(fn)
    return str(info.value)


def _reveals_nothing(message, reference):
    """Feedback shows no code of the reference and no arrays."""
    for line in inspect.getsource(reference).splitlines()[1:]:
        if len(line.strip()) > 12:  # code, not a lone bracket
            assert line.strip() not in message, line
    assert "_reference" not in message and "array(" not in message and "[[" not in message
    assert len(message) < 700


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_flattened, r"has shape \(5, 63\), expected \(5, 7, 9\)"),
        (_float64, "has dtype float64, expected dtype float32"),
        (_global, "each image needs its own mean and std, not the batch's"),
        (_sample_std, r"std 0\.99.*ddof=0"),
        (_no_eps, "NaN.*add eps=1e-6 to the std"),
        (_in_place, r"changed its input: \d+ of \d+ pixels"),
        (
            _off_for_one_image,
            r"1 of 400 pixels differ by more than 0\.0001, max by 0\.5 "
            r"\(at image 3, row 0, col 0\)",
        ),
        (_list, "is a list, expected a numpy.ndarray"),
        (_todo, "not implemented yet: replace the `raise NotImplementedError` line"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] or None,
)
def test_wrong_standardize_images_gets_feedback_naming_the_problem(fn, expected):
    message = _feedback(lesson00.check_standardize_images, fn)
    assert re.search(expected, message), message
    _reveals_nothing(message, lesson00._reference_standardize_images)


# ---------------------------------------------------------------------------------------------
# Lesson 00: sample_episode
# ---------------------------------------------------------------------------------------------
_ep_ref = lesson00._reference_sample_episode


def _draw(labels, n_way, k_shot, n_query, seed, *, overlap=False, replace=False, classes=None):
    rng = np.random.default_rng(seed)
    if classes is None:
        classes = rng.choice(np.unique(labels), n_way, replace=replace)
    support, query = [], []
    for c in classes:
        where = np.flatnonzero(labels == c)
        picked = rng.permutation(where)
        support.append(picked[:k_shot])
        query.append(picked[:n_query] if overlap else picked[k_shot : k_shot + n_query])
    ways = np.arange(n_way)
    return (
        np.concatenate(support),
        np.repeat(ways, k_shot),
        np.concatenate(query),
        np.repeat(ways, n_query),
    )


def _overlapping(labels, n_way, k_shot, n_query, seed):
    return _draw(labels, n_way, k_shot, n_query, seed, overlap=True)


def _not_relabelled(labels, n_way, k_shot, n_query, seed):
    s, _, q, _ = _ep_ref(labels, n_way, k_shot, n_query, seed)
    return s, labels[s], q, labels[q]


def _ignores_k_shot(labels, n_way, k_shot, n_query, seed):
    return _ep_ref(labels, n_way, 1, n_query, seed)


def _ignores_seed(labels, n_way, k_shot, n_query, seed):
    return _ep_ref(labels, n_way, k_shot, n_query, 0)


def _global_random_state(labels, n_way, k_shot, n_query, seed):
    return _ep_ref(labels, n_way, k_shot, n_query, int(np.random.randint(10**6)))


def _first_classes(labels, n_way, k_shot, n_query, seed):
    return _draw(labels, n_way, k_shot, n_query, seed, classes=np.arange(n_way))


def _mixed_classes(labels, n_way, k_shot, n_query, seed):
    s, s_y, q, q_y = _ep_ref(labels, n_way, k_shot, n_query, seed)
    return s, s_y, q, np.roll(q_y, 1)  # right counts, but query labels point at other classes


def _float_indices(labels, n_way, k_shot, n_query, seed):
    return tuple(a.astype(float) for a in _ep_ref(labels, n_way, k_shot, n_query, seed))


def _labels_not_indices(labels, n_way, k_shot, n_query, seed):
    s, s_y, q, q_y = _ep_ref(labels, n_way, k_shot, n_query, seed)
    return s + len(labels), s_y, q, q_y


def _two_values(labels, n_way, k_shot, n_query, seed):
    return _ep_ref(labels, n_way, k_shot, n_query, seed)[:2]


def _episode_todo(labels, n_way, k_shot, n_query, seed):
    raise NotImplementedError("Replace this line with your solution (see the TODO above).")


def test_reference_episode_passes_its_check(capsys):
    lesson00.check_sample_episode(_ep_ref)
    assert "✓ _reference_sample_episode: all 7 checks passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (_overlapping, "support_idx and query_idx share .* never both"),
        (_not_relabelled, r"support_y holds labels \[.*\] outside 0\.\.4 .*relabel"),
        (
            _ignores_k_shot,
            r"support_idx has shape \(3,\), expected \(12,\) = n_way \* k_shot"
            r".*use k_shot",
        ),
        (_ignores_seed, "8 different seeds chose only 1 different set"),
        (_global_random_state, "same seed gave different support_idx"),
        (_first_classes, "8 different seeds chose only 1 different set"),
        (_mixed_classes, "relabelled class 0 mixes examples of 2 different dataset classes"),
        (_float_indices, "support_idx has dtype float64, expected an integer dtype"),
        (_labels_not_indices, "support_idx holds 15 indices outside"),
        (_two_values, "returned 2 values, expected 4: support_idx, support_y, query_idx, query_y"),
        (_episode_todo, "`_episode_todo` is not implemented yet"),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] or None,
)
def test_wrong_sample_episode_gets_feedback_naming_the_problem(fn, expected):
    message = _feedback(lesson00.check_sample_episode, fn)
    assert re.search(expected, message), message
    _reveals_nothing(message, lesson00._reference_sample_episode)


def _classes_with_replacement(labels, n_way, k_shot, n_query, seed):
    rng = np.random.default_rng(seed)
    classes = rng.choice(np.unique(labels), size=n_way)  # replace=True: a class can repeat
    support, query = [], []
    for c in classes:
        picked = rng.permutation(np.flatnonzero(labels == c))[: k_shot + n_query]
        support.append(picked[:k_shot])
        query.append(picked[k_shot:])
    return (
        np.concatenate(support),
        np.repeat(np.arange(n_way), k_shot),
        np.concatenate(query),
        np.repeat(np.arange(n_way), n_query),
    )


def test_classes_drawn_with_replacement_are_named_as_such():
    message = _feedback(lesson00.check_sample_episode, _classes_with_replacement)
    assert "same class was chosen more than once" in message, message
    assert "example(s) twice" not in message


def test_notebooks_clean_covers_the_solution_notebooks(monkeypatch, capsys):
    from course_lib import nbtools

    seen = []
    monkeypatch.setattr(nbtools, "clean_files", lambda paths: seen.extend(paths) or [])
    assert cli.main(["notebooks", "clean"]) == 0
    assert set(build.solution_notebooks()) <= set(seen)
    assert not any(p.name.endswith(build.EXERCISE_SUFFIX) for p in seen)
