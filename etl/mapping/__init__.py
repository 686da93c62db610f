"""Pure mapping: an API value to a column value, a record to a row, the PHI policy. No I/O."""
