"""inversion: populated by later milestones (see the issue tracker)."""
