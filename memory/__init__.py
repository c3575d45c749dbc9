"""Memory: core file, archival memory, working files."""
