SELECT c.Abbr, COUNT(a.AptNum) AS Broken FROM appointment a INNER JOIN clinic c ON c.ClinicNum=a.ClinicNum
WHERE a.AptStatus=5 GROUP BY c.ClinicNum;
