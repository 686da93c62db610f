SELECT City, COUNT(*) AS Patients FROM patient GROUP BY City;
