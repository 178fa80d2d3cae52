"""PNG plots for an evaluation report: metric per ablation rung, loss curves, persona map.

Uses matplotlib's object API (``Figure`` + ``FigureCanvasAgg``), so no pyplot global state and
no interactive backend is ever touched.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

MAX_LEGEND_USERS = 12
MAX_LEGEND_ATTRIBUTES = 20


def _new_figure(width: float = 8.0, height: float = 5.0):
    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig: Figure, path) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(out, format="png")
    return out


def plot_metric_per_rung(rungs: list[str], values: list[float | None], path, *, metric: str,
                         title: str, counts: list[int] | None = None,
                         intervals: list[list[float] | None] | None = None,
                         references: dict[str, float] | None = None) -> Path:
    """Bar chart of one metric per rung; a ``None`` value is drawn as "n/a" with no bar.
    ``intervals`` ([low, high] per rung) are drawn as error bars, ``references`` (name → value,
    e.g. model-free baselines or chance) as labelled dashed lines across the chart."""
    if len(values) != len(rungs) or any(x is not None and len(x) != len(rungs) for x in (counts, intervals)):
        raise ValueError("rungs, values, counts and intervals must have the same length")
    fig, ax = _new_figure(9.0, 5.5)
    xs = np.arange(len(rungs))
    present = [v for v in values if v is not None] + [h for iv in intervals or [] if iv for h in iv]
    present += list((references or {}).values())
    span = max((abs(v) for v in present), default=0.0) or 1.0
    for i, (x, value) in enumerate(zip(xs, values)):
        if value is None:
            ax.text(x, 0, "n/a", ha="center", va="bottom", color="grey", style="italic")
            continue
        ax.bar(x, value, width=0.6, color="tab:blue")
        interval = intervals[i] if intervals else None
        if interval:
            ax.errorbar(x, value, yerr=[[value - interval[0]], [interval[1] - value]], color="black", capsize=6)
        top = max(value, interval[1] if interval else value)
        ax.text(x + 0.32, top + 0.01 * span, f"{value:.3f}", ha="left", va="bottom", fontsize=9)
    for n, (name, value) in enumerate(sorted((references or {}).items(), key=lambda kv: kv[1])):
        ax.axhline(value, color=colormaps["tab10"](n + 1), linestyle="--", linewidth=1, label=f"{name} {value:.3f}")
    if references:
        ax.legend(loc="upper right", fontsize=8, title="model-free references", title_fontsize=8)
    names = [textwrap.fill(r, 16) for r in rungs]  # long rung names wrap instead of running into each other
    labels = names if counts is None else [f"{r}\nn={c}" for r, c in zip(names, counts)]
    ax.set_xticks(xs, labels)
    ax.set_xlim(-0.6, len(rungs) + (1.0 if references else -0.4))
    low, high = min(present + [0.0]), max(present + [0.0])
    ax.set_ylim(low - 0.12 * span if low < 0 else 0, high + 0.12 * span)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_ylabel(metric)
    ax.set_title(title)
    return _save(fig, path)


def plot_loss_curves(curves: dict[str, list[float]], path, *, title: str,
                     ylabel: str = "loss") -> Path:
    """One line per user over optimization iterations 0..k; legend only for few users."""
    fig, ax = _new_figure()
    if not curves:
        ax.text(0.5, 0.5, "no optimization runs", ha="center", va="center",
                transform=ax.transAxes, fontsize=14, color="grey")
        ax.set_xticks([])
        ax.set_yticks([])
    for user, losses in curves.items():
        ax.plot(range(len(losses)), losses, marker="o", markersize=4, label=user)
    if curves:
        ax.set_xlabel("iteration")
        ax.set_ylabel(ylabel)
        ax.xaxis.get_major_locator().set_params(integer=True)
        if len(curves) <= MAX_LEGEND_USERS:
            ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def plot_candidates(candidates: list[dict], path, *, title: str) -> Path:
    """Every candidate the optimizer proposed: its iteration (jittered) against its mean paired
    gain over the persona it would replace, one colour per operator, filled when accepted."""
    fig, ax = _new_figure()
    operators = sorted({c["operator"] for c in candidates})
    rng = np.random.default_rng(0)
    for n, operator in enumerate(operators):
        mine = [c for c in candidates if c["operator"] == operator]
        xs = np.array([c["iteration"] for c in mine], dtype=float) + rng.uniform(-0.15, 0.15, len(mine)) + (n - 1.5) * 0.08
        ys = np.array([c["improvement"] for c in mine], dtype=float)
        accepted = np.array([c["accepted"] for c in mine], dtype=bool)
        colour = colormaps["tab10"](n)
        ax.scatter(xs[accepted], ys[accepted], color=colour, s=30, label=f"{operator}: accepted ({accepted.sum()})")
        ax.scatter(xs[~accepted], ys[~accepted], facecolors="none", edgecolors=colour, s=30,
                   label=f"{operator}: rejected ({(~accepted).sum()})")
    if not candidates:
        ax.text(0.5, 0.5, "no candidates", ha="center", va="center", transform=ax.transAxes, fontsize=14, color="grey")
    else:
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xlabel("iteration")
        ax.set_ylabel("mean paired loss gain over the current persona")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(fontsize=8)
    ax.set_title(title)
    return _save(fig, path)


def project_2d(vectors) -> np.ndarray:
    """PCA to 2-D via SVD of the mean-centred n×d matrix; returns an n×2 array.

    Components with (numerically) zero variance give a zero column, so n=1 gives zeros and n=2
    gives a point pair on the first axis. Each column's sign is fixed so that its largest-magnitude
    entry is positive, which makes the result independent of SVD sign choices and of negating the
    input.
    """
    x = np.asarray(vectors, dtype=float)
    if x.ndim != 2:
        raise ValueError(f"expected an n×d matrix, got shape {x.shape}")
    out = np.zeros((x.shape[0], 2))
    if x.shape[0] == 0 or x.shape[1] == 0:
        return out
    centred = x - x.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    tol = max(s[0], 1.0) * 1e-10 * max(centred.shape)
    for k in range(min(2, len(s))):
        if s[k] <= tol:
            continue
        column = u[:, k] * s[k]
        magnitude = np.abs(column)
        first_max = int(np.argmax(magnitude >= magnitude.max() * (1 - 1e-9)))
        out[:, k] = column if column[first_max] > 0 else -column
    return out


def plot_persona_map(labels: Sequence[str], vectors, attributes: Sequence[str], path, *,
                     title: str) -> Path:
    """Scatter of the 2-D persona projection, coloured by attribute, each point labelled."""
    if not len(labels) == len(attributes) == len(vectors):
        raise ValueError("labels, vectors and attributes must have the same length")
    points = project_2d(np.asarray(vectors, dtype=float)) if len(labels) else np.zeros((0, 2))
    fig, ax = _new_figure(9.0, 7.0)
    cmap = colormaps["tab20"]
    distinct = list(dict.fromkeys(attributes))
    for i, value in enumerate(distinct):
        mask = np.array([a == value for a in attributes])
        ax.scatter(points[mask, 0], points[mask, 1], color=cmap(i % cmap.N), s=36,
                   label=str(value) if i < MAX_LEGEND_ATTRIBUTES else None)
    for label, (px, py) in zip(labels, points):
        ax.annotate(str(label), (px, py), xytext=(3, 3), textcoords="offset points", fontsize=7)
    if distinct:
        ax.legend(fontsize=8, loc="best", title=None if len(distinct) <= MAX_LEGEND_ATTRIBUTES
                  else f"first {MAX_LEGEND_ATTRIBUTES} of {len(distinct)}")
    else:
        ax.text(0.5, 0.5, "no personas", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title)
    return _save(fig, path)


def plot_by_k(ks: Sequence[int], series: dict[str, list[tuple[float, float, float] | None]], path, *,
              metric: str, title: str) -> Path:
    """One line per series across ``ks`` (e.g. ratings known), each point (value, low, high) drawn
    with its interval as an error bar; a ``None`` point is left out."""
    fig, ax = _new_figure(8.0, 5.0)
    for n, (name, points) in enumerate(series.items()):
        if len(points) != len(ks):
            raise ValueError(f"series {name!r} has {len(points)} points for {len(ks)} values of k")
        shown = [(k, p) for k, p in zip(ks, points) if p is not None]
        if not shown:
            continue
        offset = (n - (len(series) - 1) / 2) * 0.06  # side by side, so the intervals do not overlap
        xs = [k + offset for k, _ in shown]
        values = [p[0] for _, p in shown]
        ax.errorbar(xs, values, yerr=[[p[0] - p[1] for _, p in shown], [p[2] - p[0] for _, p in shown]],
                    marker="o", capsize=4, label=name)
    ax.set_xticks(list(ks))
    ax.set_xlabel("ratings known (k)")
    ax.set_ylabel(metric)
    ax.set_title(textwrap.shorten(title, 90))
    ax.legend(fontsize=8)
    return _save(fig, path)
