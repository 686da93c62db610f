SELECT d.ItemName, SUM(a.AdjAmt) AS Total, SUM(CASE WHEN a.AdjAmt<0 THEN 1 ELSE 0 END) AS Negatives
FROM adjustment a INNER JOIN definition d ON d.DefNum=a.AdjType
GROUP BY a.AdjType;
