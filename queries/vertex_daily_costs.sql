-- Daily Vertex AI / Gemini spend from the Cloud Billing export to BigQuery
-- (standard `gcp_billing_export_v1_*` or detailed `gcp_billing_export_resource_v1_*` table).
--
-- Run by `spendlens collect` / `spendlens nightly` ([gcp] in spendlens.toml). BigQuery does
-- the grouping; only one row per day, billing account, project, service, SKU, region, label
-- set, cost type, currency and invoice month comes back. The invoice month is kept because
-- a usage day can be billed on the next month's invoice (late rows, month-end days).
--
-- Placeholder and named query parameters (written here without their sigil: emulators
-- count parameter references in comments too):
--   billing_table  the export table, `project.dataset.table`, validated and backquoted by
--                  spendlens (a table name cannot be a query parameter)
--   start_date     first usage day (DATE, inclusive)
--   end_date       last usage day (DATE, inclusive)
--   late_days      days after a usage day in which its rows can still be exported (INT64);
--                  bounds the partitions read
--   services       lower-case substrings of service.description to keep (ARRAY<STRING>)
--
-- The export table is partitioned by export day (_PARTITIONTIME): the partition filter
-- below means BigQuery reads, and bills, only the partitions the window can be in.
-- Label subqueries use an alias (`UNNEST(labels) AS l`), valid BigQuery that emulators
-- accept too.
SELECT
  billing_account_id,
  DATE(usage_start_time) AS usage_date,
  project.id AS project_id,
  service.description AS service,
  sku.id AS sku_id,
  sku.description AS sku,
  COALESCE(NULLIF(location.region, ''), location.location) AS region,
  -- Labels as JSON text ([{"key":…,"value":…}]), so rows with the same label set group together.
  TO_JSON_STRING(project.labels) AS project_labels,
  TO_JSON_STRING(labels) AS resource_labels,
  cost_type,
  currency,
  invoice.month AS invoice_month,
  SUM(cost) AS cost,
  SUM(usage.amount) AS usage_amount,
  ANY_VALUE(usage.unit) AS usage_unit,
  -- Credits are negative amounts; kept apart so billed cost = cost + credits.
  SUM((SELECT SUM(c.amount) FROM UNNEST(credits) AS c)) AS credits,
  COUNT(*) AS export_rows
FROM {billing_table}
WHERE DATE(_PARTITIONTIME) BETWEEN @start_date AND DATE_ADD(@end_date, INTERVAL @late_days DAY)
  AND DATE(usage_start_time) BETWEEN @start_date AND @end_date
  AND EXISTS (
    SELECT 1 FROM UNNEST(@services) AS s
    WHERE STRPOS(LOWER(service.description), s) > 0
  )
GROUP BY
  billing_account_id, usage_date, project_id, service, sku_id, sku, region,
  project_labels, resource_labels, cost_type, currency, invoice_month
ORDER BY usage_date, project_id, service, sku_id, region, project_labels, resource_labels, cost_type
