"""Progress bars for the slow steps of building the glyph set (off when ``progress=False``)."""

from __future__ import annotations


def _progress(total: int, desc: str, unit: str, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, leave=False)
