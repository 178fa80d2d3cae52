"""Position bias of option letters: a small model prefers some letters whatever the options say.

The prior over positions is estimated without labels, after PriDe (Zheng et al., "Large Language
Models Are Not Robust Multiple Choice Selectors", arXiv 2309.03882): answer a few questions under
every cyclic rotation of their options, so that each option takes each position once; averaging the
position probabilities in log space cancels the content and leaves the preference for positions.
Dividing that prior out of an observed distribution (and renormalising) corrects it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def rotations(options: Sequence[str]) -> list[list[str]]:
    """The cyclic shifts of ``options``: each option takes every position once."""
    return [list(options[k:]) + list(options[:k]) for k in range(len(options))]


def letter_prior(rotated: Sequence[Sequence[Sequence[float]]]) -> list[float]:
    """A model's prior over option positions, estimated without labels (after PriDe, Zheng et
    al., arXiv 2309.03882): for each question, the position probabilities observed under every
    cyclic shift of its options are averaged in log space (each option sits at each position
    once, so content cancels and the position preference remains), normalised, and averaged
    over questions. ``rotated[q][k]`` is the distribution over positions for shift ``k``."""
    if not rotated:
        raise ValueError("the letter prior needs at least one question answered under every shift")
    n = len(rotated[0][0])
    total = [0.0] * n
    for shifts in rotated:
        logs = [sum(math.log(max(dist[pos], 1e-9)) for dist in shifts) / len(shifts) for pos in range(n)]
        weights = [math.exp(v - max(logs)) for v in logs]
        total = [t + w / sum(weights) for t, w in zip(total, weights)]
    return [t / len(rotated) for t in total]


def debias(position_probs: Sequence[float], prior: Sequence[float]) -> list[float]:
    """Divide a position prior out of one observed distribution over positions and renormalise."""
    raw = [p / max(q, 1e-9) for p, q in zip(position_probs, prior)]
    return [r / sum(raw) for r in raw]
