SELECT AptStatus, SUM(CASE WHEN DateTimeArrived='0001-01-01 00:00:00' THEN 1 ELSE 0 END) AS NotArrived, COUNT(*) AS Appts
FROM appointment GROUP BY AptStatus;
