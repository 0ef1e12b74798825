"""asyncpg through pgtide in transaction mode, as asyncpg is used by default:
its statement cache prepares named statements, connection pools reset
sessions, and apps keep per-connection settings (test_drivers.sh runs it).

Usage: asyncpg_workload.py DSN CLIENTS ROUNDS
Prints one line "errors=N checks=M" and exits non-zero on any error.
"""
import asyncio
import sys

import asyncpg

DSN, CLIENTS, ROUNDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])


async def one_client(cid, stats):
    # Default statement_cache_size: every query below is a named statement.
    conn = await asyncpg.connect(DSN)
    try:
        await conn.execute("SELECT set_config('app.user_id', $1, false)", f"user-{cid}")
        await conn.execute(f"SET search_path = s{cid % 3}, public")
        stmt = await conn.prepare("SELECT $1::int * $2::int, current_setting('app.user_id')")
        for r in range(ROUNDS):
            v = await conn.fetchval("SELECT $1::int + $2::int", cid, r)
            check(stats, v == cid + r, f"client {cid}: sum {v}")
            row = await stmt.fetchrow(cid, r)
            check(stats, row[0] == cid * r and row[1] == f"user-{cid}", f"client {cid}: row {tuple(row)}")
            async with conn.transaction():
                await conn.execute("INSERT INTO drv_t (client, n) VALUES ($1, $2)", cid, r)
                n = await conn.fetchval("SELECT count(*) FROM drv_t WHERE client = $1", cid)
                check(stats, n == r + 1, f"client {cid}: count {n} after {r + 1} inserts")
            path = await conn.fetchval("SHOW search_path")
            check(stats, path == f"s{cid % 3}, public", f"client {cid}: search_path {path!r}")
            # Many distinct statements: the cache and the servers' LRU churn.
            w = await conn.fetchval(f"SELECT {r % 40} + $1::int", cid)
            check(stats, w == r % 40 + cid, f"client {cid}: distinct statement {w}")
    finally:
        await conn.close()


async def pooled(stats):
    # asyncpg's own pool: reset() on release runs RESET ALL, UNLISTEN *,
    # pg_advisory_unlock_all() and CLOSE ALL through pgtide.
    pool = await asyncpg.create_pool(DSN, min_size=5, max_size=10)
    try:
        async def task(i):
            async with pool.acquire() as c:
                got = await c.fetchval("SELECT $1::text || '-ok'", str(i))
                check(stats, got == f"{i}-ok", f"pool task {i}: {got}")
        await asyncio.gather(*(task(i) for i in range(200)))
    finally:
        await pool.close()


def check(stats, cond, what):
    stats["checks"] += 1
    if not cond:
        stats["errors"] += 1
        if stats["errors"] <= 5:
            print("FAILED:", what, flush=True)


async def main():
    stats = {"errors": 0, "checks": 0}
    results = await asyncio.gather(*(one_client(i, stats) for i in range(CLIENTS)), pooled(stats),
                                   return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            stats["errors"] += 1
            print("EXCEPTION:", type(r).__name__, r, flush=True)
    print(f"errors={stats['errors']} checks={stats['checks']}")
    return 1 if stats["errors"] else 0


sys.exit(asyncio.run(main()))
