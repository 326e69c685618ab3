WITH "identify_traits" AS (
  SELECT
    "profile_id",
    MAX(CASE WHEN "key" = 'email' THEN CAST("value" AS VARCHAR(MAX)) END) AS "t_1",
    MAX(CASE WHEN "key" = 'renewal_date' THEN CAST("value" AS VARCHAR(MAX)) END) AS "t_2",
    MAX(CASE WHEN "key" = 'plan' THEN CAST("value" AS VARCHAR(MAX)) END) AS "t_3"
  FROM "engage"."profile_traits"
  WHERE
    "key" IN ('email', 'renewal_date', 'plan')
  GROUP BY
    "profile_id"
), "computed_traits" AS (
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
  WHERE
    "ev"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      "ev"."event" = 'Page Viewed'
      AND "ev"."timestamp" > CAST('2024-05-18 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE(
        (
          POSITION('pricing' IN JSON_EXTRACT_PATH_TEXT("ev"."context", 'page')) > 0
        ),
        FALSE
      )
    )
  GROUP BY
    "ev"."profile_id"
)
SELECT
  "identify_traits"."profile_id"
FROM "identify_traits"
LEFT JOIN "computed_traits"
  ON "computed_traits"."profile_id" = "identify_traits"."profile_id"
LEFT JOIN "event_stats"
  ON "event_stats"."profile_id" = "identify_traits"."profile_id"
WHERE
  (
    (
      (
        COALESCE("event_stats"."e_0", 0) >= 3
      )
      OR (
        COALESCE(
          (
            CASE
              WHEN JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "computed_traits"."t_0" || ']', 0) ~ '^\\s*-?[0-9]+(\\.[0-9]+)?([eE][-+]?[0-9]+)?\\s*$'
              THEN CAST(JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "computed_traits"."t_0" || ']', 0) AS DOUBLE PRECISION)
            END >= 50
          ),
          FALSE
        )
      )
    )
    AND (
      COALESCE(
        (
          NOT JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_1" || ']', 0) IS NULL
          AND NOT COALESCE(
            POSITION(
              '@company.com' IN JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_1" || ']', 0)
            ) > 0,
            FALSE
          )
        ),
        FALSE
      )
    )
    AND (
      COALESCE(
        (
          CASE
            WHEN JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_2" || ']', 0) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
            THEN CAST(JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_2" || ']', 0) AS TIMESTAMP WITH TIME ZONE)
          END >= CAST('2024-06-01 00:00:00.000000+00:00' AS TIMESTAMP WITH TIME ZONE)
          AND CASE
            WHEN JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_2" || ']', 0) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}'
            THEN CAST(JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_2" || ']', 0) AS TIMESTAMP WITH TIME ZONE)
          END <= CAST('2024-07-01 00:00:00.000000+00:00' AS TIMESTAMP WITH TIME ZONE)
        ),
        FALSE
      )
    )
    AND (
      NOT (
        COALESCE(
          (
            NOT JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_3" || ']', 0) IS NULL
            AND NOT COALESCE(
              JSON_EXTRACT_ARRAY_ELEMENT_TEXT('[' || "identify_traits"."t_3" || ']', 0) = 'free',
              FALSE
            )
          ),
          FALSE
        )
      )
    )
  )
  AND "identify_traits"."profile_id" IN (
    SELECT
      "profile_id"
    FROM "engage"."identities"
    WHERE
      "id_type" IN ('user_id', 'email')
  )
