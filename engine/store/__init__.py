"""The SQLite store: schema migrations, named queries, one transaction per state change."""
