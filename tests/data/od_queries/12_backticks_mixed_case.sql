SELECT `Patient`.`PatNum`, `Patient`.`LName`, `ProcedureLog`.`ProcFee`
FROM `Patient` INNER JOIN `ProcedureLog` ON `ProcedureLog`.`PatNum`=`Patient`.`PatNum`
WHERE `ProcedureLog`.`ProcStatus`=2 AND `ProcedureLog`.`ProcFee` > 200;
