"""runner.execute_notebook: the injected mode reaches the kernel's environment too."""

import os

import nbformat

from course_lib import config, runner


def test_the_kernel_sees_the_injected_mode_not_the_callers(tmp_path, monkeypatch):
    monkeypatch.setenv(config.MODE_ENV, "smoke")  # what the test suite's conftest sets
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": runner.kernel_name(),
        "display_name": "course",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("mode = None\nseed = 0", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            "import os\nfrom course_lib import config\n"
            "print(os.environ['COURSE_MODE'], config.sizes('training').batch_size)"
        ),
    ]
    source, output = tmp_path / "probe.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, source)
    runner.execute_notebook(source, output, mode="teaching", seed=0, timeout=120)
    printed = nbformat.read(output, as_version=4).cells[-1].outputs[0]["text"].split()
    assert printed == ["teaching", str(config.sizes("training", "teaching").batch_size)]
    assert os.environ[config.MODE_ENV] == "smoke"  # the caller's environment is restored
