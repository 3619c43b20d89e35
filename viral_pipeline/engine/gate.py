"""The accuracy gate: may a candidate model become the champion?

Accuracy alone is gamed by the trivial model: with ~10% viral videos, always answering "not
viral" scores ~90%. So the gate asks for all of

* accuracy >= min_accuracy (0.75);
* ROC AUC >= min_roc_auc (0.70);
* PR AUC (average precision) >= min_pr_auc_over_base_rate (2) x the base rate: a model without
  skill scores the base rate;
* Brier score strictly below the no-skill Brier base_rate x (1 - base_rate), the score of always
  predicting the base rate;
* balanced accuracy >= min_balanced_accuracy (0.65);
* when a champion exists, no regression beyond noise: for each of roc_auc, pr_auc,
  balanced_accuracy, accuracy (higher is better) and brier, log_loss, ece (lower is better),
  the candidate is not worse than the champion by more than that metric's margin (for example
  2 bootstrap standard errors from `model.bootstrap_margins`; a metric without a margin gets
  0, and a NaN margin fails). A metric the champion did not record is not compared.

A missing or NaN candidate metric fails its check. This module is pure: the Dagster asset check
turns `GateResult.metadata()` into check metadata.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

HIGHER_IS_BETTER: tuple[str, ...] = ("roc_auc", "pr_auc", "balanced_accuracy", "accuracy")
LOWER_IS_BETTER: tuple[str, ...] = ("brier", "log_loss", "ece")


@dataclass(frozen=True)
class GateThresholds:
    min_accuracy: float = 0.75
    min_roc_auc: float = 0.70
    min_pr_auc_over_base_rate: float = 2.0
    min_balanced_accuracy: float = 0.65
    brier_below_no_skill: bool = True


@dataclass(frozen=True)
class GateCheck:
    """One rule: `value` compared with `threshold` (>= or <=, or < for the Brier score)."""

    name: str
    value: float
    threshold: float
    passed: bool
    detail: str


@dataclass(frozen=True)
class GateResult:
    passed: bool
    checks: list[GateCheck] = field(default_factory=list)

    @property
    def failed(self) -> list[GateCheck]:
        return [check for check in self.checks if not check.passed]

    def metadata(self) -> dict[str, float | bool | str]:
        """Flat values for Dagster check metadata: `passed`, `failed_checks` (comma-separated
        names, or empty), and per check `<name>` (its value), `<name>_threshold` and
        `<name>_passed`. Check names: accuracy, roc_auc, pr_auc, balanced_accuracy, brier, and
        no_regression_<metric> when a champion was compared."""
        out: dict[str, float | bool | str] = {
            "passed": self.passed,
            "failed_checks": ",".join(check.name for check in self.failed),
        }
        for check in self.checks:
            out[check.name] = float(check.value)
            out[f"{check.name}_threshold"] = float(check.threshold)
            out[f"{check.name}_passed"] = check.passed
        return out

    def summary(self) -> str:
        """One line per check, failures first."""
        ordered = sorted(self.checks, key=lambda check: check.passed)
        return "\n".join(f"{'PASS' if c.passed else 'FAIL'} {c.name}: {c.detail}" for c in ordered)


def _metric(metrics: Mapping[str, float], key: str) -> float:
    value = metrics.get(key)
    return float("nan") if value is None else float(value)


def _at_least(name: str, value: float, threshold: float, what: str) -> GateCheck:
    passed = value >= threshold  # False for NaN
    detail = f"{what} {value:.4f} {'>=' if passed else '<'} {threshold:.4f}"
    return GateCheck(name, value, threshold, passed, detail)


def _absolute_checks(metrics: Mapping[str, float], thresholds: GateThresholds) -> list[GateCheck]:
    base_rate = _metric(metrics, "base_rate")
    checks = [
        _at_least("accuracy", _metric(metrics, "accuracy"), thresholds.min_accuracy, "accuracy"),
        _at_least("roc_auc", _metric(metrics, "roc_auc"), thresholds.min_roc_auc, "ROC AUC"),
        _at_least(
            "pr_auc",
            _metric(metrics, "pr_auc"),
            thresholds.min_pr_auc_over_base_rate * base_rate,
            f"PR AUC (needs {thresholds.min_pr_auc_over_base_rate:g} x base rate {base_rate:.4f})",
        ),
        _at_least(
            "balanced_accuracy",
            _metric(metrics, "balanced_accuracy"),
            thresholds.min_balanced_accuracy,
            "balanced accuracy",
        ),
    ]
    if thresholds.brier_below_no_skill:
        brier = _metric(metrics, "brier")
        no_skill = _metric(metrics, "no_skill_brier")
        if math.isnan(no_skill):
            no_skill = base_rate * (1 - base_rate)
        passed = brier < no_skill
        detail = f"Brier {brier:.4f} {'<' if passed else '>='} no-skill Brier {no_skill:.4f}"
        checks.append(GateCheck("brier", brier, no_skill, passed, detail))
    return checks


def _regression_checks(
    metrics: Mapping[str, float], champion: Mapping[str, float], margins: Mapping[str, float]
) -> list[GateCheck]:
    checks = []
    for key, higher in [(k, True) for k in HIGHER_IS_BETTER] + [(k, False) for k in LOWER_IS_BETTER]:
        best = _metric(champion, key)
        if math.isnan(best):
            continue  # the champion did not record this metric: nothing to compare with
        value = _metric(metrics, key)
        margin = _metric(margins, key) if key in margins else 0.0
        if higher:
            threshold = best - margin
            passed = value >= threshold
        else:
            threshold = best + margin
            passed = value <= threshold
        if passed:
            detail = f"{key} {value:.4f} is within the margin {margin:.4f} of the champion's {best:.4f}"
        else:
            detail = (f"{key} {value:.4f} is worse than the champion's {best:.4f} "
                      f"by more than the margin {margin:.4f}")
        checks.append(GateCheck(f"no_regression_{key}", value, threshold, passed, detail))
    return checks


def evaluate_gate(
    metrics: Mapping[str, float],
    thresholds: GateThresholds | None = None,
    champion_metrics: Mapping[str, float] | None = None,
    margins: Mapping[str, float] | None = None,
) -> GateResult:
    """Every rule of the gate on a candidate's test metrics (the keys of `model.evaluate`);
    passes only when all checks pass."""
    thresholds = thresholds or GateThresholds()
    checks = _absolute_checks(metrics, thresholds)
    if champion_metrics is not None:
        checks += _regression_checks(metrics, champion_metrics, margins or {})
    return GateResult(passed=all(check.passed for check in checks), checks=checks)
