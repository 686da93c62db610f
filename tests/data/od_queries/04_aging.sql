SELECT g.PatNum, CONCAT(g.LName, ', ', g.FName) AS Guarantor,
  g.Bal_0_30, g.Bal_31_60, g.Bal_61_90, g.BalOver90, g.BalTotal, g.InsEst,
  g.BalTotal - g.InsEst AS '$PatPortion'
FROM patient g
WHERE g.PatNum=g.Guarantor AND g.BalTotal > 0
ORDER BY g.BalTotal DESC;
