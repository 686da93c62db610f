"""The mirror's catalog: which tables it holds and how they are declared."""
