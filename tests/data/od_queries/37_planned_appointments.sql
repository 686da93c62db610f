SELECT a.AptNum, a.PatNum, a.AptDateTime FROM appointment a WHERE a.AptStatus=6 AND a.AptDateTime='0001-01-01';
