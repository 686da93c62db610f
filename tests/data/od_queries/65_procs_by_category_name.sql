SELECT d.ItemName AS Category, COUNT(*) AS Procs, SUM(pl.ProcFee) AS Fees
FROM procedurelog pl
INNER JOIN procedurecode pc ON pc.CodeNum=pl.CodeNum
INNER JOIN definition d ON d.DefNum=pc.ProcCat
WHERE pl.ProcStatus=2 AND pl.ProcDate BETWEEN '2025-01-01' AND '2025-12-31'
GROUP BY d.DefNum ORDER BY d.ItemName;
