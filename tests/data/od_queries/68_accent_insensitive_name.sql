/* utf8_general_ci compares letters without their accents: 'emile' finds 'Émile' */
SELECT PatNum, FName FROM patient WHERE FName='emile';
