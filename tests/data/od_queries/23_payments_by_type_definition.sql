SELECT d.ItemName AS PayType, COUNT(*) AS Payments, SUM(p.PayAmt) AS Total
FROM payment p INNER JOIN definition d ON d.DefNum=p.PayType AND d.Category=10
GROUP BY d.ItemName;
