SELECT COUNT(*) AS In2025 FROM procedurelog WHERE ProcDate LIKE '2025%' AND ProcStatus=2;
