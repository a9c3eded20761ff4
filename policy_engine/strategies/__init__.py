"""Pool strategies: each orders the eligible members of one pool (see :mod:`.base`)."""
