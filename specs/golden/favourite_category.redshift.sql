SELECT
  "profile_id",
  "value"
FROM (
  SELECT
    "ev"."profile_id",
    JSON_EXTRACT_PATH_TEXT("ev"."properties", 'category') AS "value",
    ROW_NUMBER() OVER (
      PARTITION BY "ev"."profile_id"
      ORDER BY COUNT(*) DESC NULLS LAST, JSON_EXTRACT_PATH_TEXT("ev"."properties", 'category')
    ) AS "value_rank"
  FROM "engage"."events" AS "ev"
  WHERE
    "ev"."event" = 'Product Viewed'
    AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT JSON_EXTRACT_PATH_TEXT("ev"."properties", 'category') IS NULL
  GROUP BY
    "ev"."profile_id",
    JSON_EXTRACT_PATH_TEXT("ev"."properties", 'category')
  HAVING
    COUNT(*) >= 2
) AS frequencies
WHERE
  "value_rank" = 1
