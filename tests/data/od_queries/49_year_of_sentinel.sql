SELECT PatNum, YEAR(Birthdate) AS BirthYear, MONTH(Birthdate) AS M, DAY(Birthdate) AS D FROM patient WHERE PatNum IN (13, 26, 1, 2);
