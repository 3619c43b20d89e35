"""Keeping the probability honest: outcomes users report, their labels, ECE, and Platt scaling
(fitting, storing, applying).
"""
