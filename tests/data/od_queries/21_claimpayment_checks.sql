SELECT cp.CheckDate, cp.CheckNum, cp.CarrierName, cp.CheckAmt, COUNT(c.ClaimProcNum) AS Procs
FROM claimpayment cp LEFT JOIN claimproc c ON c.ClaimPaymentNum=cp.ClaimPaymentNum
GROUP BY cp.ClaimPaymentNum;
