WITH `event_stats` AS (
  SELECT
    `ev`.`profile_id`,
    COUNT(
      CASE
        WHEN `ev`.`event` = 'Order Completed'
        AND `ev`.`timestamp` > CAST('2024-03-03 00:00:00.000000' AS TIMESTAMP)
        AND `ev`.`timestamp` <= CAST('2024-05-02 00:00:00.000000' AS TIMESTAMP)
        THEN 1
      END
    ) AS `e_0`,
    COUNT(
      CASE
        WHEN `ev`.`event` = 'Order Completed'
        AND `ev`.`timestamp` > CAST('2024-05-02 00:00:00.000000' AS TIMESTAMP)
        THEN 1
      END
    ) AS `e_1`
  FROM `engage`.`events` AS `ev`
  WHERE
    `ev`.`event` IN ('Order Completed')
    AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND `ev`.`timestamp` > CAST('2024-03-03 00:00:00.000000' AS TIMESTAMP)
  GROUP BY
    `ev`.`profile_id`
)
SELECT
  `event_stats`.`profile_id`
FROM `event_stats`
WHERE
  (
    (
      COALESCE(`event_stats`.`e_0`, 0) >= 1
    )
    AND (
      COALESCE(`event_stats`.`e_1`, 0) = 0
    )
  )
  AND `event_stats`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
