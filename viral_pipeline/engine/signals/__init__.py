"""The five signals of a prediction and how they combine: rules, trends (fuzzy sound matching), the
aggregate, and the batch path that scores many requests with the same answers.
"""
