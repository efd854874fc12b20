"""What a runbook says: the model, the loader and its YAML nodes, the schema, templates, variables,
durations, the services' startup order.
"""
