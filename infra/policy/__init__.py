"""CrossGuard security baseline: validators in validators.py, the pack itself in pack/."""
