"""Modal screens: yes/no, reason, typed environment name, choice, variables form."""
