-- ordered
/* Providers still working: Open Dental leaves DateTerm at 0001-01-01 */
SELECT ProvNum, Abbr, LName, FName FROM provider
WHERE IsHidden=0 AND DateTerm='0001-01-01' ORDER BY ItemOrder;
