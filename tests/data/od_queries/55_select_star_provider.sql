SELECT * FROM provider WHERE ProvNum IN (1, 3);
