SELECT pl.ProvNum, COUNT(DISTINCT pl.PatNum) AS Patients FROM procedurelog pl WHERE pl.ProcStatus=2 GROUP BY pl.ProvNum;
