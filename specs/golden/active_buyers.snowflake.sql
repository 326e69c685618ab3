WITH "computed_traits" AS (
  SELECT
    "profile_id",
    MAX(
      CASE WHEN "computation_key" = 'high_value_users' THEN CAST("value" AS VARCHAR) END
    ) AS "t_0",
    MAX(
      CASE WHEN "computation_key" = 'cart_abandoners' THEN CAST("value" AS VARCHAR) END
    ) AS "t_1"
  FROM "engage"."computed_values"
  WHERE
    "computation_key" IN ('high_value_users', 'cart_abandoners')
  GROUP BY
    "profile_id"
)
SELECT
  "computed_traits"."profile_id"
FROM "computed_traits"
WHERE
  (
    (
      COALESCE(CAST(PARSE_JSON("computed_traits"."t_0") AS VARCHAR) = 'true', FALSE)
    )
    AND (
      NOT (
        COALESCE(CAST(PARSE_JSON("computed_traits"."t_1") AS VARCHAR) = 'true', FALSE)
      )
    )
  )
  AND "computed_traits"."profile_id" IN (
    SELECT
      "profile_id"
    FROM "engage"."identities"
    WHERE
      "id_type" IN ('user_id', 'email')
  )
