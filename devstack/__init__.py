"""`make run`: the stack as local processes, kept running, and its supplier stand-in. The
servers it starts are local_servers'."""
