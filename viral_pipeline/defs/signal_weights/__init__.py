"""Signal weights learned from outcomes: signal_weights_fit (+ learned_weights_beat_fixed) → serving_signal_weights."""
