SELECT PatNum, LEFT(LName,3) AS L3, RIGHT(Zip,2) AS Z2, SUBSTRING_INDEX(Email,'@',-1) AS Domain, SUBSTRING_INDEX(Email,'@',1) AS Who
FROM patient WHERE Email<>'';
