SELECT 'Patient' AS Source, SUM(PayAmt) AS Amount FROM payment
UNION ALL
SELECT 'Insurance', SUM(CheckAmt) FROM claimpayment;
