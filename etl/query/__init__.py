"""`odmirror query`: run a query written for Open Dental (MySQL) on the mirror, read-only."""
