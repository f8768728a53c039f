import subprocess
import sys

import pytest

from course_lib.frameworks import check_framework


def test_both_frameworks_train_in_one_process():
    """The TensorFlow/torch segfault: a guarded process survives an optimizer step in each."""
    code = (
        "from course_lib.frameworks import guard_both_frameworks\n"
        "guard_both_frameworks()\n"
        "import tensorflow as tf, keras, torch\n"
        "m = torch.nn.Linear(2, 2); opt = torch.optim.SGD(m.parameters(), lr=0.1)\n"
        "m(torch.ones(1, 2)).sum().backward(); opt.step()\n"
        "k = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])\n"
        "k.compile('sgd', 'mse'); k.fit(tf.ones((4, 2)), tf.ones((4, 1)), verbose=0)\n"
        "print('survived')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-2000:]}"
    assert "survived" in proc.stdout


def test_this_test_process_has_both_frameworks_loaded():
    import tensorflow  # noqa: F401
    import torch

    m = torch.nn.Linear(2, 1)
    torch.optim.Adam(m.parameters()).step()
    assert "triton" in sys.modules or "torchvision" in sys.modules


@pytest.mark.parametrize(
    ("name", "expected"),
    [("torch", "torch"), ("PyTorch", "torch"), ("keras", "keras"), ("tf", "keras")],
)
def test_framework_names(name, expected):
    assert check_framework(name) == expected


def test_unknown_framework():
    with pytest.raises(ValueError, match="torch, keras"):
        check_framework("jax")
