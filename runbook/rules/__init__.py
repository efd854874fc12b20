"""What may happen: the events, the run state (fold, statuses, gates, transition rules), the two-person
rule, the window and notice, redaction.
"""
