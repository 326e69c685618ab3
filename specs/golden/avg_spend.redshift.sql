SELECT
  "ev"."profile_id",
  ROUND(
    AVG(
      CASE
        WHEN JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'
        THEN CAST(JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') AS DOUBLE PRECISION)
      END
    ),
    9
  ) AS "value"
FROM "engage"."events" AS "ev"
WHERE
  "ev"."event" = 'Order Completed'
  AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT CASE
    WHEN JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'
    THEN CAST(JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') AS DOUBLE PRECISION)
  END IS NULL
GROUP BY
  "ev"."profile_id"
