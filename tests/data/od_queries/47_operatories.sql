-- ordered
SELECT o.OpName, o.IsHygiene, IFNULL(pv.Abbr,'none') AS Dentist FROM operatory o LEFT JOIN provider pv ON pv.ProvNum=o.ProvDentist
WHERE o.IsHidden=0 ORDER BY o.ItemOrder;
