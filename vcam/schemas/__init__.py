"""JSON Schemas of vcam's file formats (package data)."""
