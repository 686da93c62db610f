SELECT p.PatNum, p.LName,
  (SELECT MAX(a.AptDateTime) FROM appointment a WHERE a.PatNum=p.PatNum AND a.AptStatus=2) AS LastVisit
FROM patient p WHERE p.PatStatus=0;
