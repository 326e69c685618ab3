SELECT
  "profile_id",
  ARG_MIN("value", (-"frequency", "value")) AS "value"
FROM (
  SELECT
    "ev"."profile_id" AS "profile_id",
    "ev"."properties" ->> '$.category' AS "value",
    COUNT(*) AS "frequency"
  FROM "engage"."events" AS "ev"
  WHERE
    "ev"."event" = 'Product Viewed'
    AND "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT (
      "ev"."properties" ->> '$.category'
    ) IS NULL
  GROUP BY
    "ev"."profile_id",
    "ev"."properties" ->> '$.category'
  HAVING
    COUNT(*) >= 2
) AS frequencies
GROUP BY
  "profile_id"
