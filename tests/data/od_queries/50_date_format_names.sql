SELECT DATE_FORMAT(AptDateTime, '%M %e, %Y %h:%i %p') AS Said, DATE_FORMAT(AptDateTime, '%a %b %d') AS Short
FROM appointment WHERE AptNum IN (1, 2, 3, 25, 50);
