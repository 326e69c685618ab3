SELECT
  "ev"."profile_id",
  COUNT(*) AS "value"
FROM "engage"."events" AS "ev"
WHERE
  "ev"."event" = 'Order Completed'
  AND "ev"."timestamp" > CAST('2024-03-03 00:00:00.000000' AS TIMESTAMP)
  AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
GROUP BY
  "ev"."profile_id"
