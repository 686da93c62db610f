SELECT r.PatNum, p.LName, r.DateDue, DATEDIFF('2026-07-01', r.DateDue) AS DaysOverdue
FROM recall r INNER JOIN patient p ON p.PatNum=r.PatNum
WHERE r.IsDisabled=0 AND r.DateDue < '2026-07-01' AND r.DateDue > '0001-01-01' AND r.DateScheduled='0001-01-01';
