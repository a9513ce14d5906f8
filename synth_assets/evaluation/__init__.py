"""Scoring teacher and students on the held-out set."""
