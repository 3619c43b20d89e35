"""The calibration loop: platt_calibration (+ calibration_improves) → serving_calibration, calibration_audit."""
