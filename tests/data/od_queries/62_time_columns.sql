SELECT PatNum, SchedBeforeTime, SchedAfterTime FROM patient WHERE PatNum < 5;
