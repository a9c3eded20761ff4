"""JSON Schema files for policies, project overlays and policy tests (shipped as package data)."""
