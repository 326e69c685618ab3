WITH "computed_traits" AS (
  SELECT
    "profile_id",
    MAX(CASE WHEN "computation_key" = 'avg_spend' THEN CAST("value" AS VARCHAR(MAX)) END) AS "t_0"
  FROM "engage"."computed_values"
  WHERE
    "computation_key" IN ('avg_spend')
  GROUP BY
    "profile_id"
), "event_stats" AS (
  SELECT
    "ev"."profile_id",
    COUNT(*) AS "e_0"
  FROM "engage"."events" AS "ev"
  LEFT JOIN "computed_traits"
    ON "computed_traits"."profile_id" = "ev"."profile_id"
  WHERE
    "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      "ev"."event" = 'Order Completed'
      AND "ev"."timestamp" > CAST('2024-05-25 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE(
        (
          CASE
            WHEN JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'
            THEN CAST(JSON_EXTRACT_PATH_TEXT("ev"."properties", 'revenue') AS DOUBLE PRECISION)
          END > CASE
            WHEN JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "computed_traits"."t_0" || ']', 0) ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'
            THEN CAST(JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "computed_traits"."t_0" || ']', 0) AS DOUBLE PRECISION)
          END
        ),
        FALSE
      )
    )
  GROUP BY
    "ev"."profile_id"
)
SELECT
  "event_stats"."profile_id"
FROM "event_stats"
LEFT JOIN "computed_traits"
  ON "computed_traits"."profile_id" = "event_stats"."profile_id"
WHERE
  (
    COALESCE("event_stats"."e_0", 0) >= 1
  )
  AND "event_stats"."profile_id" IN (
    SELECT
      "profile_id"
    FROM "engage"."identities"
    WHERE
      "id_type" IN ('user_id', 'email')
  )
