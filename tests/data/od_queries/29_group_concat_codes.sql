SELECT pl.AptNum, GROUP_CONCAT(pc.ProcCode ORDER BY pc.ProcCode SEPARATOR ', ') AS Codes, COUNT(*) AS N
FROM procedurelog pl INNER JOIN procedurecode pc ON pc.CodeNum=pl.CodeNum
WHERE pl.AptNum > 0 GROUP BY pl.AptNum;
