"""The simulated TikTok world: a source that knows the truth, outcomes of predicted videos drawn
from it, and statistics to set it beside a real sample.
"""
