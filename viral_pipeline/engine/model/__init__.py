"""The viral classifier: features known before posting, the label, the time-and-creator split,
training and metrics, the accuracy gate's rules, the numpy scorer that serves without scikit-
learn, and what a model was trained on.
"""
