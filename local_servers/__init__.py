"""Processes started on this machine for `make run` and the tests: one command and all it
starts as a process group (`process_group.py`), and waiting on a condition (`waiting.py`)."""

from local_servers.process_group import ProcessGroup, describe_exit
from local_servers.waiting import wait_until

__all__ = ["ProcessGroup", "describe_exit", "wait_until"]
