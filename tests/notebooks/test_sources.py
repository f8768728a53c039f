"""One source per lesson: the committed notebooks are exactly what notebooks/src/ generates."""

import json
import textwrap

import nbformat
import pytest

from course_lib import cli, runner, sources
from course_lib.errors import SourceError

HEADER = textwrap.dedent(
    """\
    ---
    jupytext:
      text_representation:
        extension: .md
        format_name: myst
    kernelspec:
      display_name: Python (post-training course)
      language: python
      name: post-training-course
    ---

    # Lesson 99 — a lesson

    ```{code-cell}
    :tags: [parameters]

    mode = None
    ```
    """
)
TAGGED = textwrap.dedent(
    """
    ```{code-cell}
    :tags: [pytorch]

    from course_lib import torch as cl
    ```

    ```{code-cell}
    :tags: [keras]

    from course_lib import keras as cl
    ```

    +++ {"tags": ["keras"]}

    Keras only.

    ```{code-cell}
    # NBVAL_CHECK_OUTPUT
    print(cl.__name__)
    ```
    """
)


def _lesson(tmp_path, body=TAGGED):
    src = tmp_path / "notebooks" / "src"
    src.mkdir(parents=True)
    (src / "99_demo.md").write_text(HEADER + body, encoding="utf-8")
    return src / "99_demo.md"


def test_committed_notebooks_are_generated_from_their_sources():
    stale = sources.build_all(check=True)
    assert not stale, (
        f"{[p.name for p in stale]} differ from notebooks/src/: edit the source and run "
        "`course notebooks build`"
    )


def test_every_lesson_has_a_source_and_both_notebooks():
    lessons = {lesson.id for lesson in runner.discover_lessons()}
    assert lessons == {p.stem for p in sources.lesson_sources()}
    assert len(lessons) >= 7


def test_each_framework_gets_shared_cells_and_its_own(tmp_path):
    source = _lesson(tmp_path)
    torch_nb = nbformat.reads(sources.render_notebook(source, "torch"), as_version=4)
    keras_nb = nbformat.reads(sources.render_notebook(source, "keras"), as_version=4)
    assert [c.source for c in torch_nb.cells] == [
        "# Lesson 99 — a lesson",
        "mode = None",
        "from course_lib import torch as cl",
        "# NBVAL_CHECK_OUTPUT\nprint(cl.__name__)",
    ]
    assert [c.source for c in keras_nb.cells][2:4] == [
        "from course_lib import keras as cl",
        "Keras only.",
    ]
    assert [c.id for c in keras_nb.cells] == [f"c{i:02d}" for i in range(5)]
    # framework tags are gone, other tags stay
    assert torch_nb.cells[1].metadata == {"tags": ["parameters"]}
    assert all(c.metadata == {} for c in torch_nb.cells[2:])
    assert torch_nb.metadata["kernelspec"]["name"] == "post-training-course"
    assert torch_nb.metadata["course"]["generated_from"] == "src/99_demo.md"
    assert sources.notebook_path(source, "keras") == tmp_path / "notebooks" / "99_demo_keras.ipynb"


def test_checked_outputs_survive_a_rebuild_and_other_outputs_never_appear(tmp_path):
    source = _lesson(tmp_path)
    assert sources.build_all(directory=source.parent) == [
        sources.notebook_path(source, fw) for fw in ("torch", "keras")
    ]
    path = sources.notebook_path(source, "torch")
    nb = nbformat.read(path, as_version=4)
    stored = [nbformat.v4.new_output("stream", name="stdout", text="course_lib.torch\n")]
    nb.cells[3].outputs = stored
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="noise\n")]
    nbformat.write(nb, path)
    rebuilt = nbformat.reads(sources.render_notebook(source, "torch"), as_version=4)
    assert rebuilt.cells[3].outputs == stored  # lent from the committed notebook
    assert rebuilt.cells[2].outputs == []  # unchecked outputs are never kept
    # once the checked cell's source changes, its stale output is not lent to it
    source.write_text(source.read_text().replace("print(cl.__name__)", "print(cl)"))
    changed = nbformat.reads(sources.render_notebook(source, "torch"), as_version=4)
    assert changed.cells[3].outputs == []


def test_check_finds_an_edited_notebook_a_stale_source_and_an_orphan(tmp_path):
    source = _lesson(tmp_path)
    folder = source.parent
    sources.build_all(directory=folder)
    assert sources.build_all(check=True, directory=folder) == []
    keras_path = sources.notebook_path(source, "keras")
    nb = json.loads(keras_path.read_text())
    nb["cells"][0]["source"] = "# edited by hand"
    keras_path.write_text(json.dumps(nb))
    assert sources.build_all(check=True, directory=folder) == [keras_path]
    sources.build_all(directory=folder)
    source.write_text(source.read_text() + "\nA new paragraph.\n")
    assert len(sources.build_all(check=True, directory=folder)) == 2
    sources.build_all(directory=folder)
    orphan = folder.parent / "98_orphan_keras.ipynb"
    orphan.write_text("{}")
    assert sources.build_all(check=True, directory=folder) == [orphan]


def test_a_cell_for_both_frameworks_must_be_untagged(tmp_path):
    source = _lesson(tmp_path, "\n```{code-cell}\n:tags: [pytorch, keras]\n\nx = 1\n```\n")
    with pytest.raises(SourceError, match="no framework tag"):
        sources.render_notebook(source, "torch")


def test_a_source_without_a_parameters_cell_for_a_framework_is_refused(tmp_path):
    source = _lesson(tmp_path)
    source.write_text(source.read_text().replace(":tags: [parameters]", ":tags: [pytorch]"))
    with pytest.raises(SourceError, match="parameters"):
        sources.render_notebook(source, "keras")


def test_unknown_framework_and_missing_source_name_the_fix(tmp_path):
    source = _lesson(tmp_path)
    with pytest.raises(SourceError, match="torch"):
        sources.render_notebook(source, "jax")
    with pytest.raises(SourceError, match="notebooks/src"):
        sources.read_source(tmp_path / "nope.md")
    with pytest.raises(SourceError, match="no lesson sources"):
        sources.build_all(directory=tmp_path)


def test_cli_build_check_exit_codes(tmp_path, monkeypatch, capsys):
    source = _lesson(tmp_path)
    monkeypatch.setattr(sources, "sources_dir", lambda: source.parent)
    assert cli.main(["notebooks", "build", "--check"]) == 1
    assert "stale" in capsys.readouterr().out
    assert cli.main(["notebooks", "build"]) == 0
    assert cli.main(["notebooks", "build", "--check"]) == 0
    assert "2 notebooks up to date" in capsys.readouterr().out


def test_opening_and_saving_a_source_in_jupyterlab_leaves_it_as_it_was(tmp_path):
    """JupyterLab opens a source through jupytext's contents manager (as a notebook, tags and
    all); saving it back, with the metadata JupyterLab adds, writes the same file."""
    import shutil

    from jupytext import TextFileContentsManager

    source = sources.lesson_sources()[0]
    shutil.copy(source, tmp_path / source.name)
    shutil.copy(source.parent / "jupytext.toml", tmp_path / "jupytext.toml")
    manager = TextFileContentsManager(root_dir=str(tmp_path))
    model = manager.get(source.name, type="notebook", content=True)
    nb = model["content"]
    assert any("parameters" in c.metadata.get("tags", []) for c in nb.cells)
    assert nb.metadata["kernelspec"]["name"] == "post-training-course"
    nb.cells[2].metadata["scrolled"] = True  # what working in JupyterLab adds
    nb.cells[2].metadata["slideshow"] = {"slide_type": "slide"}  # kept unless jupytext.toml says
    nb.metadata["language_info"] = {"name": "python", "version": "3.11.7"}
    manager.save({"type": "notebook", "format": "json", "content": nb}, source.name)
    assert (tmp_path / source.name).read_text() == source.read_text()
