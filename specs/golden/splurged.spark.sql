WITH `computed_traits` AS (
  SELECT
    `profile_id`,
    MAX(CASE WHEN `computation_key` = 'avg_spend' THEN CAST(`value` AS STRING) END) AS `t_0`
  FROM `engage`.`computed_values`
  WHERE
    `computation_key` IN ('avg_spend')
  GROUP BY
    `profile_id`
), `event_stats` AS (
  SELECT
    `ev`.`profile_id`,
    COUNT(*) AS `e_0`
  FROM `engage`.`events` AS `ev`
  LEFT JOIN `computed_traits`
    ON `computed_traits`.`profile_id` = `ev`.`profile_id`
  WHERE
    `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      `ev`.`event` = 'Order Completed'
      AND `ev`.`timestamp` > CAST('2024-05-25 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE(
        (
          CAST(GET_JSON_OBJECT(`ev`.`properties`, '$.revenue') AS DOUBLE) > CAST(GET_JSON_OBJECT(`computed_traits`.`t_0`, '$') AS DOUBLE)
        ),
        FALSE
      )
    )
  GROUP BY
    `ev`.`profile_id`
)
SELECT
  `event_stats`.`profile_id`
FROM `event_stats`
LEFT JOIN `computed_traits`
  ON `computed_traits`.`profile_id` = `event_stats`.`profile_id`
WHERE
  (
    COALESCE(`event_stats`.`e_0`, 0) >= 1
  )
  AND `event_stats`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
