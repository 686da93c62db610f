SELECT t.PatNum, t.Total FROM (
  SELECT pl.PatNum, SUM(pl.ProcFee) AS Total FROM procedurelog pl WHERE pl.ProcStatus=2 GROUP BY pl.PatNum
) t WHERE t.Total > 500 ORDER BY t.Total DESC, t.PatNum;
