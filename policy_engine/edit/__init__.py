"""Editing policy files from the command line: round-trip YAML/JSON edits, validated, atomic."""
