WITH `computed_traits` AS (
  SELECT
    `profile_id`,
    MAX(
      CASE WHEN `computation_key` = 'high_value_users' THEN CAST(`value` AS STRING) END
    ) AS `t_0`,
    MAX(CASE WHEN `computation_key` = 'cart_abandoners' THEN CAST(`value` AS STRING) END) AS `t_1`
  FROM `engage`.`computed_values`
  WHERE
    `computation_key` IN ('high_value_users', 'cart_abandoners')
  GROUP BY
    `profile_id`
)
SELECT
  `computed_traits`.`profile_id`
FROM `computed_traits`
WHERE
  (
    (
      COALESCE(GET_JSON_OBJECT(`computed_traits`.`t_0`, '$') = 'true', FALSE)
    )
    AND (
      NOT (
        COALESCE(GET_JSON_OBJECT(`computed_traits`.`t_1`, '$') = 'true', FALSE)
      )
    )
  )
  AND `computed_traits`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
