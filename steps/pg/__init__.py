"""PostgreSQL step kinds: connections and pools, dumps and restores, replication."""
