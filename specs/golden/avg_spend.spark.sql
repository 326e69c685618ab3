SELECT
  `ev`.`profile_id`,
  ROUND(AVG(CAST(GET_JSON_OBJECT(`ev`.`properties`, '$.revenue') AS DOUBLE)), 9) AS `value`
FROM `engage`.`events` AS `ev`
WHERE
  `ev`.`event` = 'Order Completed'
  AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT CAST(GET_JSON_OBJECT(`ev`.`properties`, '$.revenue') AS DOUBLE) IS NULL
GROUP BY
  `ev`.`profile_id`
