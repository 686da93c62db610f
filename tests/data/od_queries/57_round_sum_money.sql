SELECT ProvNum, ROUND(SUM(ProcFee), 2) AS Fees, ROUND(AVG(ProcFee), 2) AS AvgFee FROM procedurelog WHERE ProcStatus=2 GROUP BY ProvNum;
