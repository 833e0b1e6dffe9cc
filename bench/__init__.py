"""`make bench`: how fast the stack does its work, each figure as a ratio against a baseline
measured in the same run, on the same servers (absolute times on a shared machine are noise)."""
