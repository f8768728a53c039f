"""Checks for lesson 02's exercises: discriminative learning rates and an unfreezing schedule.

``exercises/02_finetune_exercises.ipynb`` calls :func:`check_discriminative_rates` and
:func:`check_unfreeze_schedule`; both work on block names only, so they serve both frameworks.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from course_lib.exercises.checks import (
    ExerciseCheckError,
    call,
    expect,
    expect_type,
    fn_name,
    require_callable,
    run_checks,
)

CNN_BLOCKS = ["block1", "block2", "block3", "block4", "head"]
MLP_BLOCKS = ["layer1", "layer2", "head"]
OTHER_BACKBONE = ["stem", "stage1", "stage2", "stage3", "stage4", "stage5"]  # a ResNet's names


def check_discriminative_rates(fn: Callable[..., dict]) -> None:
    """Check ``discriminative_rates(blocks, head_lr, factor) -> {block: lr}``."""
    __tracebackhide__ = True
    require_callable(fn, "check_discriminative_rates")
    name = fn_name(fn)

    def a_dict_with_every_block() -> None:
        out = call(fn, CNN_BLOCKS, 1e-3, 3.0)
        expect_type(out, dict, f"`{name}(...)`", "Return a dict {block name: learning rate}.")
        expect(
            set(out) == set(CNN_BLOCKS),
            f"the keys must be exactly the blocks {CNN_BLOCKS}, got {sorted(out)}.",
        )

    def head_gets_head_lr() -> None:
        out = call(fn, CNN_BLOCKS, 2e-3, 3.0)
        expect(
            math.isclose(float(out["head"]), 2e-3, rel_tol=1e-9),
            f"the head (the last block) must get head_lr = 2e-3, got {out['head']!r}.",
        )

    def each_block_below_is_factor_smaller() -> None:
        for blocks, head_lr, factor in ((CNN_BLOCKS, 1e-3, 3.0), (MLP_BLOCKS, 1e-2, 10.0)):
            out = call(fn, blocks, head_lr, factor)
            zero = [b for b in blocks if float(out[b]) == 0.0]
            expect(
                not zero,
                f"with head_lr={head_lr:g} and factor={factor:g}, block(s) {zero} got the rate "
                "0.0, so they would not train at all. Is there a floor division `//` in your "
                "code? It rounds down to a whole number (1e-3 // 3 is 0.0); dividing a rate "
                "needs `/`.",
            )
            for upper, lower in zip(blocks[::-1], blocks[-2::-1], strict=False):
                ratio = float(out[upper]) / float(out[lower])
                if math.isclose(ratio, 1 / factor, rel_tol=1e-6):
                    raise ExerciseCheckError(
                        f"{lower!r} got a LARGER rate than {upper!r} above it: the blocks are "
                        "listed bottom (input) first, so the rates must shrink going DOWN, "
                        "from the head to block 1."
                    )
                expect(
                    math.isclose(ratio, factor, rel_tol=1e-6),
                    f"with factor={factor}, {lower!r} must get {upper!r}'s rate divided by "
                    f"{factor}; the ratio is {ratio:.4g}.",
                )

    def works_for_one_block() -> None:
        out = call(fn, ["head"], 5e-4, 2.0)
        expect(
            out == {"head": 5e-4}
            or (set(out) == {"head"} and math.isclose(float(out["head"]), 5e-4)),
            f"for blocks ['head'] the result must be {{'head': 5e-4}}, got {out!r}.",
        )

    run_checks(
        name,
        [
            ("returns a dict with every block", a_dict_with_every_block),
            ("the head gets head_lr", head_gets_head_lr),
            (
                "each block gets the rate above it divided by factor",
                each_block_below_is_factor_smaller,
            ),
            ("a model with a head only", works_for_one_block),
        ],
    )


def check_unfreeze_schedule(fn: Callable[..., list]) -> None:
    """Check ``unfreeze_schedule(blocks, n_stages) -> [[block, ...], ...]`` (top first)."""
    __tracebackhide__ = True
    require_callable(fn, "check_unfreeze_schedule")
    name = fn_name(fn)
    backbone = CNN_BLOCKS[:-1]

    def a_list_of_lists() -> None:
        out = call(fn, backbone, 3)
        expect_type(out, list, f"`{name}(...)`", "Return a list of stages (lists of names).")
        expect(
            all(isinstance(stage, list) for stage in out),
            "every stage must be a list of block names, e.g. [['block4'], ['block3'], ...].",
        )

    def n_stages_stages() -> None:
        for n in (1, 2, 3, 4):
            out = call(fn, backbone, n)
            expect(len(out) == n, f"n_stages={n} must give {n} stages, got {len(out)}.")

    def every_block_once_top_first() -> None:
        for n in (1, 2, 3, 4):
            flat = [b for stage in call(fn, backbone, n) for b in stage]
            expect(
                sorted(flat) == sorted(backbone) and len(flat) == len(backbone),
                f"n_stages={n}: every block must be unfrozen exactly once; got {flat}.",
            )
            expect(
                flat == backbone[::-1],
                f"n_stages={n}: blocks must be unfrozen from the TOP (last) block down; the "
                f"order was {flat}.",
            )

    def one_block_per_stage_then_the_rest() -> None:
        out = call(fn, backbone, 3)
        expect(
            out == [["block4"], ["block3"], ["block2", "block1"]],
            f"with 4 blocks and 3 stages: one block per stage from the top, and the last "
            f"stage takes every block left; got {out}.",
        )

    def any_block_list() -> None:
        for blocks in ([*MLP_BLOCKS[:-1], "layer3"], OTHER_BACKBONE):
            for n in (1, 2, len(blocks)):
                out = call(fn, list(blocks), n)
                flat = [b for stage in out for b in stage] if isinstance(out, list) else out
                foreign = sorted(set(map(str, flat)) - set(blocks))
                expect(
                    not foreign,
                    f"for blocks {blocks} and n_stages={n}, the schedule names {foreign}, which "
                    "are not in `blocks`: build the stages from the `blocks` argument, not from "
                    "lesson 02's block names (other models name their blocks differently).",
                )
                top = blocks[::-1]
                expect(
                    out == [[b] for b in top[: n - 1]] + [top[n - 1 :]],
                    f"for blocks {blocks} and n_stages={n} the schedule is {out}: n_stages "
                    "stages, one block each from the top, the last stage taking every block "
                    "left. Does your code assume 4 blocks?",
                )

    def bad_n_stages_is_an_error() -> None:
        for blocks, bad in ((backbone, 0), (backbone, 5), (OTHER_BACKBONE, 7)):
            size = len(blocks)
            try:
                fn(list(blocks), bad)
            except ValueError:
                continue
            except NotImplementedError:
                raise
            except ZeroDivisionError:
                raise ExerciseCheckError(
                    f"n_stages={bad} raised ZeroDivisionError: your code divides by n_stages "
                    "(or by something computed from it) before checking it. Check n_stages "
                    "first, and raise a ValueError that says it must be between 1 and the "
                    "number of blocks."
                ) from None
            except Exception as err:
                raise ExerciseCheckError(
                    f"n_stages={bad} raised {type(err).__name__}; raise a ValueError that says "
                    "n_stages must be between 1 and the number of blocks."
                ) from None
            raise ExerciseCheckError(
                f"n_stages={bad} with {size} blocks must raise a ValueError (between 1 and {size})."
            )

    run_checks(
        name,
        [
            ("returns a list of lists", a_list_of_lists),
            ("n_stages stages", n_stages_stages),
            ("every block once, from the top down", every_block_once_top_first),
            (
                "one block per stage, the last stage takes the rest",
                one_block_per_stage_then_the_rest,
            ),
            ("works for any list of blocks, not only lesson 02's", any_block_list),
            ("an impossible n_stages raises ValueError", bad_n_stages_is_an_error),
        ],
    )
