SELECT
  `ev`.`profile_id`,
  MIN_BY(
    GET_JSON_OBJECT(`ev`.`properties`, '$.utm_campaign'),
    STRUCT(`ev`.`timestamp`, `ev`.`message_id`)
  ) AS `value`
FROM `engage`.`events` AS `ev`
WHERE
  `ev`.`event` = 'Page Viewed'
  AND `ev`.`timestamp` <= CAST('2024-06-01 00:00:00.000000' AS TIMESTAMP)
  AND NOT GET_JSON_OBJECT(`ev`.`properties`, '$.utm_campaign') IS NULL
GROUP BY
  `ev`.`profile_id`
