"""Behaviour of the domain. Route handlers and the CLI call these; they hold no HTTP."""
