"""Evaluation tools: replay recordings through the real Session and score the results."""
