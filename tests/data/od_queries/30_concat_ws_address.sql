SELECT PatNum, CONCAT_WS(', ', NULLIF(Address,''), NULLIF(City,''), State) AS Mailing FROM patient WHERE PatStatus=0;
