"""The Open Dental API: HTTP session, auth, pacing, retries, errors, paging (no database)."""
