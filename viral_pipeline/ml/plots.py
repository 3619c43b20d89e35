"""Evaluation plots as PNG files, for MLflow artifacts and the Dagster UI.

Two spellings of each plot, both returning the Path of the PNG written (parent folders are
created): ``plot_<name>(..., out_dir, filename=...)`` writes into a directory under a default file
name, and ``<name>_png(..., path)`` writes to exactly `path`. A ``plot_<name>`` only names the
file and passes its arguments on, so its signature repeats that of ``<name>_png``.

Matplotlib is imported inside the functions (it costs import time that serving never needs),
and figures are drawn on the Agg canvas directly, never through pyplot: no global figure state,
no GUI backend, safe in worker threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from viral_pipeline.engine.calibration.maths import BinStrategy, ece_from_table, reliability_table

_DPI = 110


def _figure(width: float = 5.0, height: float = 4.0) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=_DPI)
    FigureCanvasAgg(figure)
    return figure


def _labelled(
    title: str, xlabel: str, ylabel: str, width: float = 5.0, height: float = 4.0
) -> tuple[Any, Any]:
    """A figure and its one axes, titled and labelled."""
    figure = _figure(width, height)
    ax = figure.add_subplot()
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    return figure, ax


def _save(figure: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


def confusion_matrix_png(
    y_true: ArrayLike, y_pred: ArrayLike, path: str | Path, title: str = "Confusion matrix"
) -> Path:
    """Counts of (actual, predicted) from 0/1 (or boolean) decisions, each cell also as a share
    of its actual class (the recall of that row)."""
    from sklearn.metrics import confusion_matrix

    y = np.asarray(y_true).astype(int).ravel()
    decided = np.asarray(y_pred).astype(int).ravel()
    matrix = confusion_matrix(y, decided, labels=[0, 1])
    row_share = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure, ax = _labelled(title, "predicted", "actual", 4.6, 4.0)
    ax.imshow(row_share, cmap="Blues", vmin=0, vmax=1)
    for i in range(2):
        for j in range(2):
            color = "white" if row_share[i, j] > 0.5 else "black"
            ax.text(
                j,
                i,
                f"{matrix[i, j]:,}\n{row_share[i, j]:.0%}",
                ha="center",
                va="center",
                color=color,
            )
    ax.set_xticks([0, 1], ["not viral", "viral"])
    ax.set_yticks([0, 1], ["not viral", "viral"])
    return _save(figure, path)


def plot_confusion_matrix(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    out_dir: str | Path,
    threshold: float = 0.5,
    filename: str = "confusion_matrix.png",
) -> Path:
    """The confusion matrix of deciding "viral" when P >= threshold."""
    decided = np.asarray(y_prob, dtype=float).ravel() >= threshold
    title = f"Confusion matrix (threshold {threshold:.3f})"
    return confusion_matrix_png(y_true, decided, Path(out_dir) / filename, title)


def plot_roc_curve(
    y_true: ArrayLike, y_prob: ArrayLike, out_dir: str | Path, filename: str = "roc_curve.png"
) -> Path:
    """ROC curve with its AUC, against the diagonal of a model without skill."""
    return roc_curve_png(y_true, y_prob, Path(out_dir) / filename)


def roc_curve_png(y_true: ArrayLike, y_prob: ArrayLike, path: str | Path) -> Path:
    """ROC curve with its AUC, against the diagonal of a model without skill."""
    from sklearn.metrics import roc_auc_score, roc_curve

    fpr, tpr, _ = roc_curve(y_true, y_prob)
    auc = roc_auc_score(y_true, y_prob)
    figure, ax = _labelled("ROC curve", "false positive rate", "true positive rate")
    ax.plot(fpr, tpr, label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="no skill (AUC 0.5)")
    ax.legend(loc="lower right")
    return _save(figure, path)


def plot_precision_recall(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    out_dir: str | Path,
    filename: str = "precision_recall.png",
) -> Path:
    """Precision-recall curve with its average precision, against the base rate (no skill)."""
    return precision_recall_png(y_true, y_prob, Path(out_dir) / filename)


def precision_recall_png(y_true: ArrayLike, y_prob: ArrayLike, path: str | Path) -> Path:
    """Precision-recall curve with its average precision, against the base rate (no skill)."""
    from sklearn.metrics import average_precision_score, precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, y_prob)
    ap = average_precision_score(y_true, y_prob)
    base_rate = float(np.mean(np.asarray(y_true, dtype=float)))
    figure, ax = _labelled("Precision-recall curve", "recall", "precision")
    ax.step(recall, precision, where="post", label=f"model (AP {ap:.3f})")
    ax.axhline(
        base_rate, linestyle="--", color="grey", label=f"no skill (base rate {base_rate:.3f})"
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="upper right")
    return _save(figure, path)


def plot_reliability_diagram(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    out_dir: str | Path,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
    filename: str = "reliability_diagram.png",
) -> Path:
    """Observed rate against mean predicted probability per bin, with the diagonal of perfect
    calibration, each bin's count written next to its point, and a histogram of the counts."""
    return reliability_diagram_png(y_true, y_prob, Path(out_dir) / filename, n_bins, strategy)


def reliability_diagram_png(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    path: str | Path,
    n_bins: int = 15,
    strategy: BinStrategy = "uniform",
) -> Path:
    """The reliability diagram of `plot_reliability_diagram`, written to `path`."""
    table = reliability_table(y_true, y_prob, n_bins, strategy)
    predicted = [row[0] for row in table]
    observed = [row[1] for row in table]
    counts = [row[2] for row in table]
    figure = _figure(5.0, 5.6)
    grid = figure.add_gridspec(2, 1, height_ratios=[3, 1])
    ax = figure.add_subplot(grid[0])
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    ax.plot(predicted, observed, marker="o", label=f"model (ECE {ece_from_table(table):.3f})")
    for x, y, count in zip(predicted, observed, counts):
        ax.annotate(f"{count:,}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel("observed rate")
    ax.set_title(f"Reliability ({len(table)} non-empty {strategy} bins of {n_bins})")
    ax.legend(loc="upper left")
    hist = figure.add_subplot(grid[1], sharex=ax)
    hist.bar(predicted, counts, width=0.8 / n_bins, color="tab:blue")
    hist.set_yscale("log")
    hist.set_xlabel("mean predicted probability")
    hist.set_ylabel("count")
    return _save(figure, path)


def plot_feature_importances(
    importances: Sequence[tuple[str, float]],
    out_dir: str | Path,
    top: int = 20,
    filename: str = "feature_importances.png",
) -> Path:
    """Horizontal bars of the `top` most important features (as `model.feature_importances`
    returns them: permutation drop in ROC AUC), the most important at the top."""
    return feature_importances_png(importances, Path(out_dir) / filename, top)


def feature_importances_png(
    importances: Sequence[tuple[str, float]], path: str | Path, top: int = 20
) -> Path:
    """The bar chart of `plot_feature_importances`, written to `path`."""
    shown = sorted(importances, key=lambda pair: pair[1], reverse=True)[:top]
    names = [name for name, _ in shown][::-1]
    values = [value for _, value in shown][::-1]
    figure = _figure(6.0, max(2.0, 0.3 * len(shown) + 1.0))
    ax = figure.add_subplot()
    ax.barh(names, values, color=["tab:blue" if v >= 0 else "tab:red" for v in values])
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("drop in ROC AUC when shuffled")
    ax.set_title("Permutation importance")
    return _save(figure, path)
