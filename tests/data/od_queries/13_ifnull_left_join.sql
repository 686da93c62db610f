SELECT p.PatNum, IFNULL(SUM(ps.SplitAmt),0) AS Paid
FROM patient p LEFT JOIN paysplit ps ON ps.PatNum=p.PatNum
WHERE p.PatStatus=0
GROUP BY p.PatNum;
