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
elif step == "report":
    for keys in ["provider", "coalesce(team, 'unallocated')",
                 "coalesce(team, 'unallocated'), coalesce(feature, 'unallocated')", "sku"]:
        con.execute(f"SELECT {keys}, SUM(effective_cost), SUM(billed_cost) FROM {day_rows} GROUP BY ALL").fetchall()
    con.execute(f"SELECT SUM(effective_cost), SUM(effective_cost) FILTER (WHERE team IS NOT NULL) FROM {day_rows}").fetchall()
elif step == "anomalies":
    for dim in ["'total'", "provider", "coalesce(team, 'unallocated')", "account", "resource", "sku"]:
        con.execute(f"""
            WITH daily AS (
                SELECT {dim} AS value, day, SUM(effective_cost) AS cost FROM {day_rows} GROUP BY ALL
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
