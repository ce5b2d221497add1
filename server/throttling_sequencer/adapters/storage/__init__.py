"""Plan repositories: Tortoise ORM (SQLite default, Postgres) and in-memory for tests."""
