"""The fault campaign: a test instrument (schedules, runner, verdicts, NFQUEUE delay), not part of the
installed package. Run from the repository root: `python bench/campaign/run.py`."""
