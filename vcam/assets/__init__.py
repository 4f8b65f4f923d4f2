"""Package data: demo portraits (see portraits/SOURCES.md) and vcam's own models with their
manifest (models/manifest.toml, read by vcam.manifest)."""
