SELECT 5/2 AS Half, 7 DIV 2 AS IntDiv, COUNT(*)/3 AS Thirds, SUM(IsNewPatient)/COUNT(*) AS NewRate
FROM appointment;
