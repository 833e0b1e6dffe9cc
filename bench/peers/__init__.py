"""The job queues a user would pick instead of this stack, each as its documentation sets it
up, measured the same way as the stack's own job path (bench/peers/compare.py).

Kept empty: worker processes import the peers' modules, and nothing here may make them
heavier than their own library."""
