SELECT CONCAT(LName, ' #', PatNum) AS Label, CONCAT(FName, ' ', MiddleI, '.') AS Named FROM patient WHERE PatNum < 8;
