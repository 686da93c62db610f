SELECT Heading, COUNT(*) AS Plans FROM treatplan WHERE Heading LIKE 'active%' GROUP BY Heading;
