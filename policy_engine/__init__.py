"""mp-policy: decide which AI account and model a coding agent uses, and where it goes when rate-limited."""
