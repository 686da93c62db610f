"""One run: cursor, fetch, map, save, removals, bookkeeping; one office is a group of one."""
