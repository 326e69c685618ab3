WITH `identify_traits` AS (
  SELECT
    `profile_id`,
    CAST(`value` AS STRING) AS `t_0`
  FROM `engage`.`profile_traits`
  WHERE
    `key` = 'plan'
)
SELECT
  `identify_traits`.`profile_id`
FROM `identify_traits`
WHERE
  (
    COALESCE(
      (
        JSON_EXTRACT_SCALAR(`identify_traits`.`t_0`, '$') IN ('pro', 'enterprise')
      ),
      FALSE
    )
  )
  AND `identify_traits`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email', 'anonymous_id')
  )
