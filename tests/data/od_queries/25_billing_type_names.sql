SELECT d.ItemName AS BillingType, COUNT(p.PatNum) AS Patients
FROM patient p INNER JOIN definition d ON d.DefNum=p.BillingType
WHERE p.PatStatus=0 AND d.IsHidden=0
GROUP BY p.BillingType;
