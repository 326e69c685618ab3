WITH `event_stats` AS (
  SELECT
    `ev`.`profile_id`,
    SUM(SAFE_CAST(JSON_EXTRACT_SCALAR(`ev`.`properties`, '$.revenue') AS FLOAT64)) AS `e_0`
  FROM `engage`.`events` AS `ev`
  WHERE
    `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      `ev`.`event` = 'Order Completed'
      AND `ev`.`timestamp` > CAST('2023-06-02 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE((
        JSON_EXTRACT_SCALAR(`ev`.`properties`, '$.currency') = 'USD'
      ), FALSE)
    )
  GROUP BY
    `ev`.`profile_id`
)
SELECT
  `event_stats`.`profile_id`
FROM `event_stats`
WHERE
  (
    COALESCE(COALESCE(`event_stats`.`e_0`, 0) >= 500, FALSE)
  )
  AND `event_stats`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
