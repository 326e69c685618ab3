WITH `identify_traits` AS (
  SELECT
    `profile_id`,
    MAX(CASE WHEN `key` = 'email' THEN CAST(`value` AS STRING) END) AS `t_1`,
    MAX(CASE WHEN `key` = 'renewal_date' THEN CAST(`value` AS STRING) END) AS `t_2`,
    MAX(CASE WHEN `key` = 'plan' THEN CAST(`value` AS STRING) END) AS `t_3`
  FROM `engage`.`profile_traits`
  WHERE
    `key` IN ('email', 'renewal_date', 'plan')
  GROUP BY
    `profile_id`
), `computed_traits` AS (
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
  WHERE
    `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND (
      `ev`.`event` = 'Page Viewed'
      AND `ev`.`timestamp` > CAST('2024-05-18 00:00:00.000000' AS TIMESTAMP)
      AND COALESCE(
        (
          INSTR(JSON_EXTRACT_SCALAR(`ev`.`context`, '$.page.url'), 'pricing') > 0
        ),
        FALSE
      )
    )
  GROUP BY
    `ev`.`profile_id`
)
SELECT
  `identify_traits`.`profile_id`
FROM `identify_traits`
LEFT JOIN `computed_traits`
  ON `computed_traits`.`profile_id` = `identify_traits`.`profile_id`
LEFT JOIN `event_stats`
  ON `event_stats`.`profile_id` = `identify_traits`.`profile_id`
WHERE
  (
    (
      (
        COALESCE(`event_stats`.`e_0`, 0) >= 3
      )
      OR (
        COALESCE(
          (
            SAFE_CAST(JSON_EXTRACT_SCALAR(`computed_traits`.`t_0`, '$') AS FLOAT64) >= 50
          ),
          FALSE
        )
      )
    )
    AND (
      COALESCE(
        (
          NOT JSON_EXTRACT_SCALAR(`identify_traits`.`t_1`, '$') IS NULL
          AND NOT COALESCE(
            INSTR(JSON_EXTRACT_SCALAR(`identify_traits`.`t_1`, '$'), '@company.com') > 0,
            FALSE
          )
        ),
        FALSE
      )
    )
    AND (
      COALESCE(
        (
          SAFE_CAST(JSON_EXTRACT_SCALAR(`identify_traits`.`t_2`, '$') AS TIMESTAMP) >= CAST('2024-06-01 00:00:00.000000+00:00' AS TIMESTAMP)
          AND SAFE_CAST(JSON_EXTRACT_SCALAR(`identify_traits`.`t_2`, '$') AS TIMESTAMP) <= CAST('2024-07-01 00:00:00.000000+00:00' AS TIMESTAMP)
        ),
        FALSE
      )
    )
    AND (
      NOT (
        COALESCE(
          (
            NOT JSON_EXTRACT_SCALAR(`identify_traits`.`t_3`, '$') IS NULL
            AND NOT COALESCE(JSON_EXTRACT_SCALAR(`identify_traits`.`t_3`, '$') = 'free', FALSE)
          ),
          FALSE
        )
      )
    )
  )
  AND `identify_traits`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
