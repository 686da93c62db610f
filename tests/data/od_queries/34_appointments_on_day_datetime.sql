-- may-be-empty
SELECT AptNum, AptDateTime FROM appointment WHERE AptDateTime >= '2025-01-01' AND AptDateTime < '2025-03-01';
