"""Framework-neutral model summaries: both framework packages produce rows, this formats them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LayerRow:
    """One top-level block of a model: its parameter counts and whether it trains."""

    name: str
    kind: str
    params: int
    trainable: int

    @property
    def state(self) -> str:
        if self.params == 0:
            return "-"
        if self.trainable == self.params:
            return "trainable"
        return "frozen" if self.trainable == 0 else "partly frozen"


def format_summary(rows: Sequence[LayerRow], title: str = "") -> str:
    """A fixed-width table of ``rows`` with totals; identical text in both frameworks."""
    lines = [title] if title else []
    lines.append(f"{'layer':<10} {'type':<14} {'params':>10} {'trainable':>10}  state")
    lines.append("-" * 58)
    for r in rows:
        lines.append(f"{r.name:<10} {r.kind:<14} {r.params:>10,} {r.trainable:>10,}  {r.state}")
    lines.append("-" * 58)
    total = sum(r.params for r in rows)
    trainable = sum(r.trainable for r in rows)
    lines.append(
        f"{'total':<10} {'':<14} {total:>10,} {trainable:>10,}  ({total - trainable:,} frozen)"
    )
    return "\n".join(lines)
