SELECT PatNum, LName, FName FROM patient WHERE LName='smith';
