"""How one step runs: the step kind contract, the executor, the item log, the scope of values, the
detached supervisor's process.
"""
