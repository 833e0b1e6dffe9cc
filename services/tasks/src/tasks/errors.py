class TransientError(Exception):
    """A failure worth trying again later (a server down, slow or busy).

    A task that still fails with one after its last retry leaves its job dead.
    """
