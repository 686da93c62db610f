SELECT ClaimStatus, COUNT(*) AS Claims, SUM(ClaimFee) AS Billed FROM claim WHERE ClaimStatus IN ('r','s') GROUP BY ClaimStatus;
