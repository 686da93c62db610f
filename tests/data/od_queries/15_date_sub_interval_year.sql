-- may-be-empty
SELECT COUNT(*) AS ProcsLastYear, SUM(ProcFee) AS Fees FROM procedurelog
WHERE ProcStatus=2 AND ProcDate >= DATE_SUB(CURDATE(), INTERVAL 1 YEAR);
