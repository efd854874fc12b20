"""The front-ends: the command line (main and the session commands), the headless runner, the detached
step's supervisor.
"""
