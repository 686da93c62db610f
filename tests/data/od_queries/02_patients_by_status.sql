-- ordered
SELECT PatStatus, COUNT(*) AS Patients FROM patient GROUP BY PatStatus ORDER BY PatStatus;
