"""Dagster entry point (`dagster dev -f definitions.py`): the shipped example pipelines, or SYNTH_SPECS."""

from synth_assets.factory import load_definitions

defs = load_definitions()
