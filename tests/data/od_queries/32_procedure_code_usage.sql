SELECT pc.ProcCode, pc.Descript, COUNT(pl.ProcNum) AS Times, SUM(pl.ProcFee) AS Fees
FROM procedurecode pc LEFT JOIN procedurelog pl ON pl.CodeNum=pc.CodeNum AND pl.ProcStatus=2
GROUP BY pc.CodeNum;
