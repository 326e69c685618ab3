SELECT
  "ev"."profile_id",
  ARG_MIN("ev"."properties" ->> '$.utm_campaign', ("ev"."timestamp", "ev"."message_id")) AS "value"
FROM "engage"."events" AS "ev"
WHERE
  "ev"."event" = 'Page Viewed'
  AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT (
    "ev"."properties" ->> '$.utm_campaign'
  ) IS NULL
GROUP BY
  "ev"."profile_id"
