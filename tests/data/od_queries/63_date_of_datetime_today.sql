-- may-be-empty
SELECT COUNT(*) AS Today FROM appointment WHERE DATE(AptDateTime) = CURDATE() OR AptDateTime > NOW();
