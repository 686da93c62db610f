"""The mirror database: its views and what is made on it."""
