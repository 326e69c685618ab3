WITH `event_stats` AS (
  SELECT
    `ev`.`profile_id`,
    COUNT(*) AS `e_0`
  FROM `engage`.`events` AS `ev`
  WHERE
    `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      `ev`.`event` = 'Order Completed'
      AND `ev`.`timestamp` > CAST('2024-03-03 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE((
        CAST(GET_JSON_OBJECT(`ev`.`properties`, '$.revenue') AS DOUBLE) > 100
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
    COALESCE(`event_stats`.`e_0`, 0) >= 3
  )
  AND `event_stats`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
