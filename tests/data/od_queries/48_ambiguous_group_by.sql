/* GROUP BY a name both tables have: MySQL takes the selected one */
SELECT p.PatNum, COUNT(*) AS Appts FROM patient p INNER JOIN appointment a ON a.PatNum=p.PatNum GROUP BY PatNum;
