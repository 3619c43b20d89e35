"""The model half: training_set → ml_model (MLflow) → accuracy_gate → champion_model."""
