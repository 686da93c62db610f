-- ordered
SELECT PatNum, COUNT(*) AS Procs FROM procedurelog GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5;
