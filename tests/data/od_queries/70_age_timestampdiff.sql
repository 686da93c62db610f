/* Ages as Open Dental's report queries compute them */
SELECT PatNum, Birthdate, TIMESTAMPDIFF(YEAR, Birthdate, '2026-07-01') AS Age
FROM patient WHERE Birthdate > '0001-01-01' AND PatStatus=0;
