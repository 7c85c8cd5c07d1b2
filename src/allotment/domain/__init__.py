"""Domain operations: one module per concept, each taking a SQLAlchemy
connection inside a transaction, no HTTP inside."""
