"""Checkpoint readers for the published formats."""
