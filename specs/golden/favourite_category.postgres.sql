SELECT
  "profile_id",
  "value"
FROM (
  SELECT
    "ev"."profile_id",
    CAST("ev"."properties" AS JSON) #>> '{"category"}' AS "value",
    ROW_NUMBER() OVER (
      PARTITION BY "ev"."profile_id"
      ORDER BY COUNT(*) DESC NULLS LAST, CAST("ev"."properties" AS JSON) #>> '{"category"}'
    ) AS "value_rank"
  FROM "engage"."events" AS "ev"
  WHERE
    "ev"."event" = 'Product Viewed'
    AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT CAST("ev"."properties" AS JSON) #>> '{"category"}' IS NULL
  GROUP BY
    "ev"."profile_id",
    CAST("ev"."properties" AS JSON) #>> '{"category"}'
  HAVING
    COUNT(*) >= 2
) AS frequencies
WHERE
  "value_rank" = 1
