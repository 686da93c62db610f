SELECT ClinicNum, SUM(AptStatus=5) AS Broken, SUM(AptStatus=2) AS Completed, AVG(IsNewPatient) AS NewShare FROM appointment GROUP BY ClinicNum;
