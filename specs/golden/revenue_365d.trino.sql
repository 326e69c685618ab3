SELECT
  "ev"."profile_id",
  ROUND(SUM(TRY_CAST(JSON_EXTRACT_SCALAR("ev"."properties", '$.revenue') AS DOUBLE)), 9) AS "value"
FROM "engage"."events" AS "ev"
WHERE
  "ev"."event" = 'Order Completed'
  AND "ev"."timestamp" > CAST('2023-06-02 00:00:00.000000' AS TIMESTAMP)
  AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND COALESCE((
    JSON_EXTRACT_SCALAR("ev"."properties", '$.currency') = 'USD'
  ), FALSE)
  AND NOT TRY_CAST(JSON_EXTRACT_SCALAR("ev"."properties", '$.revenue') AS DOUBLE) IS NULL
GROUP BY
  "ev"."profile_id"
