"""Load stage: minute rows and derived settlements into SQLite, with their queries."""
