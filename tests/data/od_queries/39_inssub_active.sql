SELECT s.InsSubNum, s.Subscriber, s.SubscriberID, ip.GroupName
FROM inssub s INNER JOIN insplan ip ON ip.PlanNum=s.PlanNum
WHERE (s.DateTerm='0001-01-01' OR s.DateTerm > '2026-01-01') AND ip.IsHidden=0;
