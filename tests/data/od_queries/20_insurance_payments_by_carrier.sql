SELECT ca.CarrierName, SUM(cp.InsPayAmt) AS InsPaid, SUM(cp.WriteOff) AS WriteOffs
FROM claimproc cp
INNER JOIN insplan ip ON ip.PlanNum=cp.PlanNum
INNER JOIN carrier ca ON ca.CarrierNum=ip.CarrierNum
WHERE cp.Status IN (1,4) AND cp.DateCP BETWEEN '2024-01-01' AND '2026-12-31'
GROUP BY ca.CarrierNum;
