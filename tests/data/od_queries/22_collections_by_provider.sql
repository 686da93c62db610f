SELECT pv.Abbr, SUM(ps.SplitAmt) AS Collected
FROM paysplit ps INNER JOIN provider pv ON pv.ProvNum=ps.ProvNum
WHERE ps.DatePay BETWEEN '2025-01-01' AND '2026-06-30'
GROUP BY pv.Abbr;
