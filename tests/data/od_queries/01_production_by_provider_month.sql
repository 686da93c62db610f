/* Production by provider and month, completed procedures (Open Dental query style). */
SET @FromDate='2024-07-01', @ToDate='2026-06-30';
SELECT pv.Abbr AS Provider, DATE_FORMAT(pl.ProcDate,'%Y-%m') AS 'Month',
  COUNT(*) AS '$Procs', SUM(pl.ProcFee*(pl.UnitQty+pl.BaseUnits)) AS '$Production'
FROM procedurelog pl
INNER JOIN provider pv ON pv.ProvNum=pl.ProvNum
WHERE pl.ProcStatus=2 AND pl.ProcDate BETWEEN @FromDate AND @ToDate
GROUP BY pv.ProvNum, DATE_FORMAT(pl.ProcDate,'%Y-%m')
ORDER BY pv.Abbr, DATE_FORMAT(pl.ProcDate,'%Y-%m');
