SELECT COUNT(*) AS Hidden FROM provider WHERE IsHidden=TRUE OR IsSecondary=FALSE AND TRUE;
