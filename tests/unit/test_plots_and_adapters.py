import matplotlib.pyplot as plt
import numpy as np
import pytest

from course_lib import data, plots


def test_image_grid_lays_out_rows_and_titles():
    fig = plots.image_grid(np.zeros((7, 8, 8)), [str(i) for i in range(7)], ncols=3)
    assert len(fig.axes) == 9  # 3 rows x 3 columns, two left empty
    assert fig.axes[6].get_title() == "6"
    plt.close(fig)


def test_image_grid_bad_input():
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        plots.image_grid(np.zeros((8, 8)))
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
        assert (
            module.FRAMEWORK in module.framework_info().lower() or "CPU" in module.framework_info()
        )
        with pytest.raises(ValueError, match=r"\(N, H, W\)"):
            module.to_batch(np.zeros((4, 28, 28, 1)))


def test_mirrored_framework_packages_share_their_public_names():
    from course_lib import keras as ck
    from course_lib import torch as ct

    def public(module):
        return {
            n
            for n in vars(module)
            if not n.startswith("_")
            and callable(getattr(module, n))
            and getattr(getattr(module, n), "__module__", "").startswith("course_lib")
        }

    assert public(ct) == public(ck)


def test_both_frameworks_count_the_same_parameters():
    """Same architecture, same table: the summary text is identical in both frameworks."""
    from course_lib import keras as ck
    from course_lib import torch as ct

    for build in (lambda m: m.small_cnn(10, width=32), lambda m: m.mlp(1, (40, 40), 1)):
        torch_model, keras_model = build(ct), build(ck)
        ct.freeze(torch_model, up_to=ct.layer_names(torch_model)[0])
        ck.freeze(keras_model, up_to=ck.layer_names(keras_model)[0])
        assert ct.trainable_summary(torch_model) == ck.trainable_summary(keras_model)
