/* Patients without a birthdate: Open Dental stores 0001-01-01 */
SELECT PatNum, LName, Birthdate FROM patient WHERE Birthdate < '1880-01-01';
