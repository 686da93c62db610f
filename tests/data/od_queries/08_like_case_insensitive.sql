SELECT PatNum, LName, Email FROM patient WHERE Email LIKE '%@example.COM' AND LName LIKE 'BRO%';
