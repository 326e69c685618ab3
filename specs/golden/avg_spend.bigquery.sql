SELECT
  `ev`.`profile_id`,
  ROUND(AVG(SAFE_CAST(JSON_EXTRACT_SCALAR(`ev`.`properties`, '$.revenue') AS FLOAT64)), 9) AS `value`
FROM `engage`.`events` AS `ev`
WHERE
  `ev`.`event` = 'Order Completed'
  AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT SAFE_CAST(JSON_EXTRACT_SCALAR(`ev`.`properties`, '$.revenue') AS FLOAT64) IS NULL
GROUP BY
  `ev`.`profile_id`
