"""The state store: what has been applied, with lineage, serial, tombstones, history and locks."""
