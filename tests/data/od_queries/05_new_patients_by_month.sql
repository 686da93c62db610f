SELECT YEAR(a.AptDateTime) AS 'Year', MONTH(a.AptDateTime) AS 'Month', SUM(a.IsNewPatient) AS NewPatients, COUNT(*) AS Appts
FROM appointment a WHERE a.AptStatus=2
GROUP BY YEAR(a.AptDateTime), MONTH(a.AptDateTime);
