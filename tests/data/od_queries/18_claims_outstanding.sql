/* Outstanding claims: sent, not received */
SELECT c.ClaimNum, c.PatNum, c.DateService, c.DateSent, c.ClaimFee, c.InsPayEst, ca.CarrierName
FROM claim c
INNER JOIN insplan ip ON ip.PlanNum=c.PlanNum
INNER JOIN carrier ca ON ca.CarrierNum=ip.CarrierNum
WHERE c.ClaimStatus='S' AND c.DateSent > '0001-01-01';
