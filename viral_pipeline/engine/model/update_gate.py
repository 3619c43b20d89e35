"""The gate of the update model: the accuracy gate's rules, at each update tier on its own.

An update is served at 24 h and at 72 h, so a model that is informative and calibrated on the
two tiers pooled could still be miscalibrated at one of them: each tier's held-out rows must pass
every blocking rule of `evaluate_gate` (the same thresholds, GATE_*), and, when an update model
of the same source serves, show no regression beyond noise against it at that tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from viral_pipeline.engine.model.gate import GateResult, GateThresholds, evaluate_gate


def evaluate_update_gate(
    metrics_by_tier: Mapping[str, Mapping[str, float]],
    thresholds: GateThresholds | None = None,
    champion_by_tier: Mapping[str, Mapping[str, float]] | None = None,
    margins_by_tier: Mapping[str, Mapping[str, float]] | None = None,
    notes: list[str] | None = None,
) -> GateResult:
    """Passes when every tier passes; each check is named `<tier>_<check>` (e.g. `24h_ece`)."""
    checks, passed = [], bool(metrics_by_tier)
    for tier, metrics in metrics_by_tier.items():
        result = evaluate_gate(
            metrics,
            thresholds,
            (champion_by_tier or {}).get(tier),
            (margins_by_tier or {}).get(tier),
        )
        passed = passed and result.passed
        checks += [replace(check, name=f"{tier}_{check.name}") for check in result.checks]
    return GateResult(passed=passed, checks=checks, notes=list(notes or []))
