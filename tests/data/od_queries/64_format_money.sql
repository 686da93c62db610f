SELECT ProvNum, FORMAT(SUM(ProcFee), 2) AS Fees FROM procedurelog WHERE ProcStatus=2 GROUP BY ProvNum;
