SELECT
  `profile_id`,
  MIN_BY(`value`, STRUCT(-`frequency`, `value`)) AS `value`
FROM (
  SELECT
    `ev`.`profile_id` AS `profile_id`,
    GET_JSON_OBJECT(`ev`.`properties`, '$.category') AS `value`,
    COUNT(*) AS `frequency`
  FROM `engage`.`events` AS `ev`
  WHERE
    `ev`.`event` = 'Product Viewed'
    AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
    AND NOT GET_JSON_OBJECT(`ev`.`properties`, '$.category') IS NULL
  GROUP BY
    `ev`.`profile_id`,
    GET_JSON_OBJECT(`ev`.`properties`, '$.category')
  HAVING
    COUNT(*) >= 2
) AS frequencies
GROUP BY
  `profile_id`
