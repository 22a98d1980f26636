"""DuckDB doing spendlens' benchmark steps as SQL over the same files.

Usage: duckdb_steps.py STEP CSV PARQUET OUTDIR   (run and timed by `spendlens-bench`)

ingest-csv / ingest-parquet: COPY the export to day-partitioned Parquet (what spendlens'
store is); report, anomalies, investigate: the equivalent GROUP BYs over that store.
"""
import os
import sys
import duckdb

step, csv, parquet, out = sys.argv[1:5]
os.makedirs(out, exist_ok=True)
con = duckdb.connect()
store = f"{out}/store"
day_rows = f"read_parquet('{store}/**/*.parquet', hive_partitioning = true)"

def ingest(source):
    con.execute(f"""
        COPY (
            SELECT CAST(ChargePeriodStart AS DATE) AS day, ServiceProviderName AS provider,
                   ServiceName AS service, SubAccountId AS account, RegionId AS region,
                   ResourceId AS resource, SkuPriceDetails AS sku, x_UsageType AS usage_type,
                   ChargeCategory AS charge_category, BillingCurrency AS currency,
                   json_extract_string(Tags, '$.team') AS team,
                   json_extract_string(Tags, '$.feature') AS feature,
                   SUM(BilledCost) AS billed_cost, SUM(EffectiveCost) AS effective_cost,
                   SUM(ConsumedQuantity) AS consumed_quantity
            FROM {source}
            GROUP BY ALL
        ) TO '{store}' (FORMAT parquet, PARTITION_BY (day), OVERWRITE_OR_IGNORE true)
    """)

if step == "ingest-csv":
    ingest(f"read_csv('{csv}', header = true)")
elif step == "ingest-parquet":
    ingest(f"read_parquet('{parquet}')")
elif step in ("report", "anomalies"):
    # spendlens' report also carries movers (the previous period's sums), the dashboard's
    # daily rows, unit costs per team/feature/model and the anomalies: the same queries here.
    # Neither side's anomaly step is matched on explanations: spendlens explains every flag
    # (root causes, decomposition), DuckDB only lists flagged days.
    con.execute(f"CREATE TEMP VIEW r AS SELECT *, coalesce(team, 'unallocated') AS t FROM {day_rows}")
    if step == "report":
        last = con.execute("SELECT max(day) FROM r").fetchone()[0]
        for where in ["TRUE", "day < (SELECT min(day) FROM r)"]:
            for keys in ["provider", "t", "t, feature", "sku"]:
                con.execute(f"SELECT {keys}, SUM(effective_cost), SUM(billed_cost) FROM r WHERE {where} GROUP BY ALL").fetchall()
        con.execute("SELECT SUM(effective_cost), SUM(effective_cost) FILTER (WHERE team IS NOT NULL) FROM r").fetchall()
        # The daily rows: the 250 largest series whole, the rest folded per day, provider and team.
        con.execute("""
            WITH s AS (SELECT provider, t, feature, sku, SUM(effective_cost) AS c FROM r GROUP BY ALL),
                 top AS (SELECT * FROM s ORDER BY c DESC LIMIT 250)
            SELECT r.day, r.provider, r.t,
                   CASE WHEN top.c IS NULL THEN '(other)' ELSE r.feature END,
                   CASE WHEN top.c IS NULL THEN '(other)' ELSE r.sku END,
                   SUM(r.effective_cost)
            FROM r LEFT JOIN top ON r.provider = top.provider AND r.t = top.t
                 AND r.feature IS NOT DISTINCT FROM top.feature AND r.sku IS NOT DISTINCT FROM top.sku
            GROUP BY ALL""").fetchall()
        con.execute(f"""
            SELECT t, feature, sku, usage_type, SUM(effective_cost), SUM(consumed_quantity),
                   SUM(effective_cost) FILTER (WHERE day > DATE '{last}' - 7),
                   SUM(consumed_quantity) FILTER (WHERE day > DATE '{last}' - 7),
                   SUM(effective_cost) FILTER (WHERE day <= DATE '{last}' - 7 AND day > DATE '{last}' - 14),
                   SUM(consumed_quantity) FILTER (WHERE day <= DATE '{last}' - 7 AND day > DATE '{last}' - 14)
            FROM r WHERE usage_type LIKE '%tokens%' GROUP BY ALL""").fetchall()
    for dim in ["'total'", "provider", "t", "t || '/' || coalesce(feature, '')", "account", "resource", "sku"]:
        con.execute(f"""
            WITH daily AS (
                SELECT {dim} AS value, day, SUM(effective_cost) AS cost FROM r GROUP BY ALL
            ), judged AS (
                SELECT value, day, cost,
                       median(cost) OVER (PARTITION BY value, dayofweek(day) ORDER BY day
                                          ROWS BETWEEN 4 PRECEDING AND 1 PRECEDING) AS expected
                FROM daily
            )
            SELECT * FROM judged WHERE expected IS NOT NULL AND abs(cost - expected) > greatest(50, 0.25 * expected)
        """).fetchall()
elif step == "investigate":
    sel = f"(SELECT * FROM {day_rows} WHERE team = 'team-07')"
    con.execute(f"SELECT day, SUM(effective_cost) FROM {sel} GROUP BY day ORDER BY day").fetchall()
    for keys in ["provider", "sku", "account", "resource", "feature", "usage_type"]:
        con.execute(f"SELECT {keys}, SUM(effective_cost) FROM {sel} GROUP BY ALL").fetchall()
else:
    sys.exit(f"unknown step {step}")
