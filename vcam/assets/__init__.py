"""Package data: demo portraits (see portraits/SOURCES.md)."""
