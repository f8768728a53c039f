import os
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


def test_keras_package_imports_and_trains_without_start_up_noise():
    """No oneDNN/absl start-up lines, no retracing warnings after many fresh models."""
    code = (
        "import numpy as np\n"
        "from course_lib import keras as cl\n"
        "data = (np.zeros((8, 8, 8), np.float32), np.zeros(8, dtype=int))\n"
        "for _ in range(7):\n"
        "    cl.fit(cl.small_cnn(3, width=4), data, epochs=1, quiet=True)\n"
        "print('trained')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "KERAS_"))}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "trained" in proc.stdout
    assert "oneDNN" not in proc.stderr and "InitializeLog" not in proc.stderr, proc.stderr
    assert "retracing" not in proc.stderr, proc.stderr


def test_startup_noise_filter_keeps_real_errors():
    code = (
        "import os\n"
        "from course_lib.frameworks import startup_noise_filtered\n"
        "with startup_noise_filtered():\n"
        "    os.write(2, b'I0000 port.cc:153] oneDNN custom operations are on.\\n')\n"
        "    os.write(2, b'a real problem\\n')\n"
        "os.write(2, b'after the block\\n')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stderr == "a real problem\nafter the block\n"
