"""Development tooling: the stack as local processes (`make run`) and the servers the tests use."""
