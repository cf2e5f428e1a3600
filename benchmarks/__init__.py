"""`make bench`: each ``bench_*.py`` module's ``run()`` measures ratios against a baseline in the same process."""
