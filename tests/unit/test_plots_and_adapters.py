import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import data, plots, report
from course_lib.errors import UnknownNameError
from course_lib.training import History


def test_image_grid_lays_out_rows_and_titles():
    fig = plots.image_grid(np.zeros((7, 8, 8)), [str(i) for i in range(7)], ncols=3)
    assert len(fig.axes) == 9  # 3 rows x 3 columns, two left empty
    assert fig.axes[6].get_title() == "6"
    plt.close(fig)


def test_image_grid_draws_rgb_photos_in_colour():
    photos = np.zeros((2, 8, 8, 3))
    photos[0, ..., 0] = 1.0  # a red image
    fig = plots.image_grid(photos, ["red", "black"])
    shown = fig.axes[0].get_images()[0].get_array()
    assert shown.shape == (8, 8, 3) and shown[0, 0, 0] == 1.0 and shown[0, 0, 1] == 0.0
    plt.close(fig)


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plots.image_grid(np.zeros((8, 8)))
    with pytest.raises(ValueError, match=r"\(N, H, W, 3\)"):
        plots.image_grid(np.zeros((2, 8, 8, 4)))
    with pytest.raises(ValueError, match="titles"):
        plots.image_grid(np.zeros((2, 8, 8)), ["only one"])


def test_plot_sinusoid_tasks_draws_each_curve():
    tasks = data.sample_sinusoid_tasks(3, 5, seed=0)
    fig = plots.plot_sinusoid_tasks(tasks)
    assert len(fig.axes[0].lines) == 3
    plt.close(fig)


def test_to_batch_uses_each_frameworks_layout():
    from course_lib import keras as ck
    from course_lib import torch as ct

    images = np.random.default_rng(0).random((4, 28, 28)).astype(np.float32)
    assert tuple(ct.to_batch(images).shape) == (4, 1, 28, 28)
    assert tuple(ck.to_batch(images).shape) == (4, 28, 28, 1)
    np.testing.assert_array_equal(
        ct.to_batch(images).numpy()[:, 0], ck.to_batch(images).numpy()[..., 0]
    )
    for module in (ct, ck):
        with pytest.raises(ValueError, match=r"\(N, H, W\)"):
            module.to_batch(np.zeros((4, 28, 28, 1)))


def test_each_framework_trains_on_the_gpu_when_it_sees_one_and_says_so(monkeypatch):
    """device() and framework_info() with and without a (faked) GPU, whatever this machine has."""
    import keras
    import tensorflow as tf
    import torch

    from course_lib import keras as ck
    from course_lib import torch as ct

    threads = f"({torch.get_num_threads()} threads)"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert ct.device() == "cpu"  # a plain string, as in Keras; .to("cpu") takes it
    assert ct.framework_info() == f"PyTorch {torch.__version__} on CPU {threads}"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda index=0: "Fake GPU 9000")
    assert ct.device() == "cuda"
    assert ct.framework_info() == f"PyTorch {torch.__version__} on Fake GPU 9000 {threads}"

    versions = f"Keras {keras.__version__} (TensorFlow {tf.__version__})"
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
    assert ck.device() == "cpu" and ck.framework_info() == f"{versions} on CPU"
    gpus = {"GPU": ["/physical_device:GPU:0"]}
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: gpus.get(kind, []))
    assert ck.device() == "gpu:0" and ck.framework_info() == f"{versions} on GPU"


def test_both_frameworks_count_the_same_parameters():
    """Same architecture, same table: the summary text is identical in both frameworks."""
    from course_lib import keras as ck
    from course_lib import torch as ct

    for build in (lambda m: m.small_cnn(10, width=32), lambda m: m.mlp(1, (40, 40), 1)):
        torch_model, keras_model = build(ct), build(ck)
        ct.freeze(torch_model, up_to=ct.layer_names(torch_model)[0])
        ck.freeze(keras_model, up_to=ck.layer_names(keras_model)[0])
        assert ct.trainable_summary(torch_model) == ck.trainable_summary(keras_model)


def _history(n=4, val=True):
    h = History()
    for e in range(n):
        logs = {"loss": 1.0 / (e + 1), "accuracy": 0.5 + 0.1 * e}
        if val:
            logs |= {"val_loss": 1.2 / (e + 1), "val_accuracy": 0.45 + 0.1 * e}
        h.append(logs)
    return h


def test_plot_history_draws_train_and_validation_per_metric():
    fig = plots.plot_history(_history(), title="digits")
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    assert [line.get_label() for line in fig.axes[0].lines] == ["train", "validation"]
    np.testing.assert_allclose(fig.axes[1].lines[0].get_ydata(), [0.5, 0.6, 0.7, 0.8])
    plt.close(fig)


def test_plot_history_overlays_runs_and_rejects_unknown_metrics():
    fig = plots.plot_history({"scratch": _history(val=False), "pretrained": _history(3)}, ["loss"])
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["scratch train", "pretrained train", "pretrained validation"]
    plt.close(fig)
    with pytest.raises(UnknownNameError, match="has loss, accuracy"):
        plots.plot_history(_history(val=False), ["val_acc"])
    with pytest.raises(TypeError, match="History from fit"):
        plots.plot_history([0.1, 0.2])


def test_plot_comparison_shows_mean_and_spread():
    fig = plots.plot_comparison({"scratch": [0.5, 0.6, 0.7], "tuned": [0.9]}, percent=True)
    ax = fig.axes[0]
    heights = [p.get_height() for p in ax.patches]
    np.testing.assert_allclose(heights, [60.0, 90.0])
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["60.0 ± 10.0", "90.0 ± 0.0"]
    assert "3 seeds" in ax.get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="finite"):
        plots.plot_comparison({"a": []})
    with pytest.raises(TypeError, match="non-empty dict"):
        plots.plot_comparison([0.1])


def test_sparsity_and_weight_histograms_count_near_zero_weights():
    dense = np.linspace(-0.1, 0.1, 1000)
    sparse = np.concatenate([np.zeros(600), dense[:400]])
    assert plots.sparsity(dense) == pytest.approx(0.01, abs=0.002)
    assert plots.sparsity(sparse) == pytest.approx(0.6, abs=0.01)
    fig = plots.plot_weight_histograms({"L2": dense, "L1": sparse})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["L2: 1% of |w| < 0.001", "L1: 60% of |w| < 0.001"]
    assert fig.axes[0].get_yscale() == "log"
    plt.close(fig)
    with pytest.raises(ValueError, match="empty"):
        plots.sparsity(np.array([]))
    with pytest.raises(TypeError, match="non-empty dict"):
        plots.plot_weight_histograms([dense])


def test_save_figure_lands_in_the_report(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    fig = plots.plot_history(_history())
    path = plots.save_figure(fig, "curves")
    plt.close(fig)
    assert path == tmp_path / "figures" / "curves.png" and path.stat().st_size > 1000
    html = (report.write_report(build=tmp_path)).read_text()
    assert "Other figures" in html and "curves" in html
    with pytest.raises(ValueError, match="figure name"):
        plots.save_figure(fig, "no spaces")
