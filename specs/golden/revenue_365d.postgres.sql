SELECT
  "ev"."profile_id",
  CAST(ROUND(
    CAST(SUM(
      CASE
        WHEN CAST("ev"."properties" AS JSON) #>> '{"revenue"}' ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$'
        THEN CAST(CAST("ev"."properties" AS JSON) #>> '{"revenue"}' AS DOUBLE PRECISION)
      END
    ) AS DECIMAL),
    9
  ) AS DOUBLE PRECISION) AS "value"
FROM "engage"."events" AS "ev"
WHERE
  "ev"."event" = 'Order Completed'
  AND "ev"."timestamp" > CAST('2023-06-02 00:00:00.000000' AS TIMESTAMP)
  AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND COALESCE((
    CAST("ev"."properties" AS JSON) #>> '{"currency"}' = 'USD'
  ), FALSE)
  AND NOT CASE
    WHEN CAST("ev"."properties" AS JSON) #>> '{"revenue"}' ~ '^\s*-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?\s*$'
    THEN CAST(CAST("ev"."properties" AS JSON) #>> '{"revenue"}' AS DOUBLE PRECISION)
  END IS NULL
GROUP BY
  "ev"."profile_id"
