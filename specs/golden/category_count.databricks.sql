SELECT
  `ev`.`profile_id`,
  COUNT(DISTINCT GET_JSON_OBJECT(`ev`.`properties`, '$.category')) AS `value`
FROM `engage`.`events` AS `ev`
WHERE
  `ev`.`event` = 'Product Viewed'
  AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT GET_JSON_OBJECT(`ev`.`properties`, '$.category') IS NULL
GROUP BY
  `ev`.`profile_id`
