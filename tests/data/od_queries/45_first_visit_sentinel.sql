SELECT COUNT(*) AS NoFirstVisit FROM patient WHERE DateFirstVisit='0001-01-01';
