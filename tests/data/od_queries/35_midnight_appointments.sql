/* Appointments stored at exactly midnight compare equal to a date literal on MySQL */
SELECT COUNT(*) AS AtMidnight FROM appointment WHERE AptDateTime = DATE(AptDateTime) AND AptDateTime > '0001-01-01';
