SELECT pv.Abbr, SUM(pc.IsHygiene) AS HygProcs, COUNT(*) AS AllProcs
FROM procedurelog pl INNER JOIN procedurecode pc ON pc.CodeNum=pl.CodeNum INNER JOIN provider pv ON pv.ProvNum=pl.ProvNum
WHERE pl.ProcStatus=2 GROUP BY pv.ProvNum;
