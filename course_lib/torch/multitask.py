"""Multi-task training for the PyTorch lessons (lesson 05): one trunk, one head per task.

Mirrors :mod:`course_lib.keras.multitask`. The model returns a dict ``{task: logits}``; the
framework-neutral :mod:`course_lib.multitask` holds the data, the batches and the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from course_lib.errors import ArgumentError, ArgumentTypeError
from course_lib.multitask import (
    MISSING,
    MultiTaskData,
    check_fit_multitask_args,
    check_multitask_data,
    check_task_outputs,
    multitask_images,
    run_steps,
    task_accuracies,
)
from course_lib.training import ADAM_EPSILON, History, check_positive_int


def _outputs(model: nn.Module, x: torch.Tensor, tasks: tuple[str, ...]) -> dict[str, torch.Tensor]:
    out = model(x)
    if not isinstance(out, Mapping):
        raise ArgumentTypeError(
            f"A multi-task model must return a dict {{task: logits}}, got {type(out).__name__}; "
            "e.g. return {task: head(features) for task, head in self.heads.items()}."
        )
    missing = [t for t in tasks if t not in out]
    if missing:
        raise ArgumentError(
            f"The model has no output for task(s) {missing}; it returns {sorted(out)}. "
            "Give it one head per task of the data."
        )
    return dict(out)


def _check_heads(model: nn.Module, sample: torch.Tensor, data: MultiTaskData) -> None:
    """One image through the model (evaluation mode): every task has an output of its width."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = _outputs(model, sample, data.tasks)
    finally:
        model.train(was_training)
    check_task_outputs({t: int(v.shape[-1]) for t, v in out.items()}, data)


def fit_multitask(
    model: nn.Module,
    train: MultiTaskData,
    val: MultiTaskData | None = None,
    *,
    steps: int,
    lr: float = 1e-3,
    loss_weights: Mapping[str, float] | None = None,
    weighting: Callable[[dict[str, Any]], Any] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    log_every: int | None = None,
    quiet: bool | None = None,
) -> History:
    """Train a multi-head ``model`` on every task of ``train`` for ``steps`` Adam steps.

    Each step draws ``batch_size`` labelled images per task (:func:`~course_lib.multitask.
    task_batches`), runs them through the model at once and computes each task's cross-entropy
    over the images labelled for it (``ignore_index=MISSING``). The total loss is
    ``sum(loss_weights[t] * loss[t])`` (every weight 1.0 by default), or ``weighting(losses)``
    for a learned scheme: an ``nn.Module`` whose parameters train with the model (if it has a
    ``task_weights()`` method, the history records its weights). History entries every
    ``log_every`` steps: ``loss``, ``loss_<task>``, ``val_<task>`` (accuracy on ``val``),
    ``weight_<task>``.
    """
    from course_lib.torch import device, to_batch

    train, lr, weights = check_fit_multitask_args(
        train,
        val,
        steps=steps,
        lr=lr,
        batch_size=batch_size,
        loss_weights=loss_weights,
        weighting=weighting,
    )
    dev = device()
    model.to(dev)
    params = [p for p in model.parameters() if p.requires_grad]
    if isinstance(weighting, nn.Module):
        weighting.to(dev)
        params += [p for p in weighting.parameters() if p.requires_grad]
    if not params:
        raise ArgumentError("Nothing to train: every parameter of the model is frozen.")
    optimizer = torch.optim.Adam(params, lr=lr, eps=ADAM_EPSILON)
    images = to_batch(train.images).to(dev)
    _check_heads(model, images[:1], train)
    labels = {t: torch.from_numpy(train.labels[t]).to(dev) for t in train.tasks}

    def step(batch: np.ndarray) -> dict[str, float]:
        model.train()
        idx = torch.from_numpy(batch).to(dev)
        outputs = _outputs(model, images[idx], train.tasks)
        losses = {
            t: F.cross_entropy(outputs[t], labels[t][idx], ignore_index=MISSING)
            for t in train.tasks
        }
        if weighting is not None:
            total = weighting(losses)
        else:
            total = sum(weights[t] * losses[t] for t in train.tasks)
        optimizer.zero_grad()
        total.backward()
        optimizer.step()
        return {"loss": total.item(), **{t: loss.item() for t, loss in losses.items()}}

    return run_steps(
        step,
        train,
        steps=steps,
        batch_size=batch_size,
        seed=seed,
        log_every=log_every,
        quiet=quiet,
        validate=None if val is None else (lambda: evaluate_multitask(model, val)),
        task_weights=getattr(weighting, "task_weights", None),
        lr=lr,
    )


def predict_multitask(
    model: nn.Module, data: MultiTaskData | np.ndarray, batch_size: int = 512
) -> dict[str, np.ndarray]:
    """``{task: logits (N, C)}`` for ``data`` (a :class:`MultiTaskData` or images ``(N, H, W)``),
    in evaluation mode."""
    from course_lib.torch import to_batch

    images = multitask_images(data)
    check_positive_int("batch_size", batch_size)
    dev = next(model.parameters()).device
    model.eval()
    parts: dict[str, list[np.ndarray]] = {}
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            out = _outputs(model, to_batch(images[start : start + batch_size]).to(dev), ())
            for task, logits in out.items():
                parts.setdefault(task, []).append(logits.cpu().numpy())
    return {t: np.concatenate(p) for t, p in parts.items()}


def evaluate_multitask(model: nn.Module, data: MultiTaskData) -> dict[str, float]:
    """Accuracy per task of ``data`` (over the images labelled for it)."""
    data = check_multitask_data(data, "data")
    return task_accuracies(predict_multitask(model, data), data)
