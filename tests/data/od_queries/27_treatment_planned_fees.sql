SELECT pl.PatNum, COUNT(*) AS Planned, SUM(pl.ProcFee) AS PlannedFees
FROM procedurelog pl WHERE pl.ProcStatus=1 GROUP BY pl.PatNum HAVING SUM(pl.ProcFee) > 300;
