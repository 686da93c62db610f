SELECT PatNum, COUNT(*) AS Visits FROM appointment WHERE AptStatus=2 GROUP BY PatNum HAVING Visits > 2;
