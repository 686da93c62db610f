/* Loose GROUP BY as Open Dental's examples write it: LName and FName are not grouped */
SELECT p.PatNum, p.LName, p.FName, COUNT(pl.ProcNum) AS Procs, SUM(pl.ProcFee) AS Fees
FROM patient p
INNER JOIN procedurelog pl ON pl.PatNum=p.PatNum AND pl.ProcStatus=2
GROUP BY p.PatNum;
