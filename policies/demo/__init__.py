"""The demo agent directory, shipped in the wheel as package data (``mp-policy demo DIR`` copies it out)."""
