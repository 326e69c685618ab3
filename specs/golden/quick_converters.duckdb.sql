WITH "funnel_0" AS (
  SELECT
    "parent"."profile_id",
    COUNT(*) AS "candidates"
  FROM "engage"."events" AS "parent"
  WHERE
    "parent"."event" = 'Trial Started'
    AND "parent"."timestamp" > CAST('2024-05-02 00:00:00.000000' AS TIMESTAMP)
    AND "parent"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      SELECT
        COUNT(*)
      FROM "engage"."events" AS "child"
      WHERE
        "child"."profile_id" = "parent"."profile_id"
        AND "child"."event" = 'Subscribed'
        AND "child"."timestamp" > "parent"."timestamp"
        AND "child"."timestamp" <= "parent"."timestamp" + INTERVAL '48' HOUR
        AND "child"."timestamp" <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    ) >= 2
  GROUP BY
    "parent"."profile_id"
)
SELECT
  "funnel_0"."profile_id"
FROM "funnel_0"
WHERE
  (
    COALESCE("funnel_0"."candidates", 0) >= 1
  )
  AND "funnel_0"."profile_id" IN (
    SELECT
      "profile_id"
    FROM "engage"."identities"
    WHERE
      "id_type" IN ('user_id', 'email')
  )
