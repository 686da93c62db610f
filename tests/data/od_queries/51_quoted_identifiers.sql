SELECT "x" AS Label, p.PatNum AS 'Patient Number', p.LName AS `Last Name` FROM Patient p WHERE p.PatNum < 5 ORDER BY `Last Name`, p.PatNum;
