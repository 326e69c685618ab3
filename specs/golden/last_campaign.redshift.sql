SELECT
  "profile_id",
  "value"
FROM (
  SELECT
    "ev"."profile_id",
    JSON_EXTRACT_PATH_TEXT("ev"."properties", 'utm_campaign') AS "value",
    ROW_NUMBER() OVER (
      PARTITION BY "ev"."profile_id"
      ORDER BY "ev"."timestamp" DESC NULLS LAST, "ev"."message_id" DESC NULLS LAST
    ) AS "value_rank"
  FROM "engage"."events" AS "ev"
  WHERE
    "ev"."event" = 'Page Viewed'
    AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT JSON_EXTRACT_PATH_TEXT("ev"."properties", 'utm_campaign') IS NULL
) AS ranked
WHERE
  "value_rank" = 1
