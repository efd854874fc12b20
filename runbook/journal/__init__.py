"""Where it is recorded: the store protocol and its shared types, SQLite, PostgreSQL and its LISTEN
thread.
"""
