"""Storage: tables, engine and migrations of the placement database."""
