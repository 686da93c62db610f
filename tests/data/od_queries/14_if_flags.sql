SELECT AptNum, IF(IsNewPatient=1,'New','Existing') AS Kind, IF(IsHygiene,'Hyg','Dr') AS Chair
FROM appointment WHERE AptStatus IN (1,2);
