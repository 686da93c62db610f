SELECT PatNum, Birthdate, FLOOR(DATEDIFF('2026-07-01', Birthdate)/365.25) AS AgeYears
FROM patient WHERE Birthdate > '0001-01-01' AND PatStatus=0;
