-- ordered
SELECT DISTINCT LName FROM patient WHERE LName IN ('Brown', 'Lee', 'Jones', 'Nguyen') ORDER BY LName;
