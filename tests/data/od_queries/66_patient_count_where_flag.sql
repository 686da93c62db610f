SELECT COUNT(*) AS PremedPatients FROM patient WHERE Premed AND NOT (PatStatus=4);
