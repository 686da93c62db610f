SELECT PatNum, LName FROM patient WHERE PatNum IN (SELECT PatNum FROM claim WHERE ClaimStatus='R') AND PatStatus=0;
