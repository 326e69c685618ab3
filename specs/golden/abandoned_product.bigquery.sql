WITH `funnel_0` AS (
  SELECT
    `parent`.`profile_id`,
    COUNT(*) AS `candidates`
  FROM `engage`.`events` AS `parent`
  WHERE
    `parent`.`event` = 'Product Added'
    AND `parent`.`timestamp` > CAST('2024-05-25 00:00:00.000000' AS TIMESTAMP)
    AND `parent`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT EXISTS(
      SELECT
        1
      FROM `engage`.`events` AS `child`
      WHERE
        `child`.`profile_id` = `parent`.`profile_id`
        AND `child`.`event` = 'Order Completed'
        AND `child`.`timestamp` > `parent`.`timestamp`
        AND `child`.`timestamp` <= `parent`.`timestamp` + INTERVAL '24' HOUR
        AND `child`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
        AND COALESCE(
          (
            JSON_EXTRACT_SCALAR(`child`.`properties`, '$.product_id') = JSON_EXTRACT_SCALAR(`parent`.`properties`, '$.product_id')
          ),
          FALSE
        )
    )
  GROUP BY
    `parent`.`profile_id`
)
SELECT
  `funnel_0`.`profile_id`
FROM `funnel_0`
WHERE
  (
    COALESCE(`funnel_0`.`candidates`, 0) >= 1
  )
  AND `funnel_0`.`profile_id` IN (
    SELECT
      `profile_id`
    FROM `engage`.`identities`
    WHERE
      `id_type` IN ('user_id', 'email')
  )
