"""demo: populated by later milestones (see the issue tracker)."""
