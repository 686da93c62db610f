SELECT RecallNum, DateDue, DATE_ADD(DateDue, INTERVAL 1 MONTH) AS NextMonth,
  DATE_SUB(DateDue, INTERVAL 6 MONTH) AS SixBefore, DateDue + INTERVAL 10 DAY AS TenAfter
FROM recall WHERE DateDue > '0001-01-01';
