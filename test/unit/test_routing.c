/*
 * test_routing.c - read routing decisions (routing.h) and the replica keys
 * of a database entry (config.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"
#include "pktbuf.h"
#include "proto.h"
#include "routing.h"

static route_class_t q(const char *sql)
{
	return routing_classify_query(sql, strlen(sql));
}

static void test_query_classes(void **state)
{
	assert_int_equal(q("SELECT 1"), ROUTE_CLASS_READ_STMT);
	assert_int_equal(q("select * from t where id = 3; select 2"), ROUTE_CLASS_READ_STMT);
	assert_int_equal(q("SELECT pg_is_in_recovery()"), ROUTE_CLASS_READ_STMT);
	assert_int_equal(q("INSERT INTO t VALUES (1)"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("SELECT 1; INSERT INTO t VALUES (1)"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("SELECT nextval('s')"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("SELECT * FROM t FOR UPDATE"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("WITH x AS (DELETE FROM t RETURNING *) SELECT * FROM x"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("BEGIN"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("SET search_path = a"), ROUTE_CLASS_WRITE);
	assert_int_equal(q(""), ROUTE_CLASS_WRITE);
	assert_int_equal(q("BEGIN READ ONLY"), ROUTE_CLASS_READ_TXN);
	assert_int_equal(q("start transaction isolation level repeatable read, read only"), ROUTE_CLASS_READ_TXN);
	assert_int_equal(q("BEGIN READ ONLY; SELECT 1; COMMIT"), ROUTE_CLASS_READ_TXN);
	/* Inside a READ ONLY transaction the server refuses writes on either role. */
	assert_int_equal(q("BEGIN READ ONLY; INSERT INTO t VALUES (1); COMMIT"), ROUTE_CLASS_READ_TXN);
	/* ...but not after it ends. */
	assert_int_equal(q("BEGIN READ ONLY; COMMIT; INSERT INTO t VALUES (1)"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("BEGIN READ ONLY READ WRITE"), ROUTE_CLASS_WRITE);
	assert_int_equal(q("BEGIN READ WRITE"), ROUTE_CLASS_WRITE);
}

typedef struct msgs {
	uint8_t mem[2048];
	pktbuf_t pb;
} msgs_t;

static void m_init(msgs_t *m)
{
	pktbuf_init_fixed(&m->pb, m->mem, sizeof(m->mem));
}

static void m_parse(msgs_t *m, const char *name, const char *sql)
{
	pktbuf_begin(&m->pb, FE_PARSE);
	pktbuf_put_cstr(&m->pb, name);
	pktbuf_put_cstr(&m->pb, sql);
	pktbuf_put_u16(&m->pb, 0);
	pktbuf_end(&m->pb);
}

static void m_bind(msgs_t *m, const char *stmt)
{
	pktbuf_begin(&m->pb, FE_BIND);
	pktbuf_put_cstr(&m->pb, "");
	pktbuf_put_cstr(&m->pb, stmt);
	pktbuf_put_u16(&m->pb, 0);
	pktbuf_put_u16(&m->pb, 0);
	pktbuf_put_u16(&m->pb, 0);
	pktbuf_end(&m->pb);
}

static void m_simple(msgs_t *m, uint8_t type)
{
	pktbuf_begin(&m->pb, type);
	if (type == FE_EXECUTE) {
		pktbuf_put_cstr(&m->pb, "");
		pktbuf_put_u32(&m->pb, 0);
	} else if (type == FE_DESCRIBE) {
		pktbuf_put_u8(&m->pb, 'P');
		pktbuf_put_cstr(&m->pb, "");
	}
	pktbuf_end(&m->pb);
}

static route_stmt_t named(void *arg, const char *name, size_t len)
{
	(void)arg;
	if (len == 2 && memcmp(name, "ro", 2) == 0)
		return ROUTE_STMT_READ;
	if (len == 2 && memcmp(name, "rw", 2) == 0)
		return ROUTE_STMT_OTHER;
	return ROUTE_STMT_UNKNOWN;
}

static route_class_t ext(msgs_t *m, size_t *unit)
{
	return routing_classify_messages(m->pb.data, m->pb.len, named, NULL, unit);
}

static void test_extended_classes(void **state)
{
	msgs_t m;
	size_t unit;

	m_init(&m);
	m_parse(&m, "", "SELECT $1::int");
	m_bind(&m, "");
	m_simple(&m, FE_DESCRIBE);
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	size_t whole = m.pb.len;
	m_simple(&m, FE_SYNC); /* the next unit is not classified with it */
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_READ_STMT);
	assert_int_equal(unit, whole);

	/* Without its Sync: not proven (yet). */
	m_init(&m);
	m_parse(&m, "", "SELECT 1");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);

	m_init(&m);
	m_parse(&m, "", "UPDATE t SET a = 1");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);

	/* Named statements prepared earlier: their cached class. */
	m_init(&m);
	m_bind(&m, "ro");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_READ_STMT);
	m_init(&m);
	m_bind(&m, "rw");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);
	m_init(&m);
	m_bind(&m, "unknown");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);
	/* The unnamed statement of an earlier sequence: unknown. */
	m_init(&m);
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);

	/* A pipeline of two statements, one writing. */
	m_init(&m);
	m_parse(&m, "", "SELECT 1");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_parse(&m, "", "DELETE FROM t");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);

	/* BEGIN READ ONLY executed first: a read-only transaction. */
	m_init(&m);
	m_parse(&m, "", "BEGIN READ ONLY");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_parse(&m, "", "SELECT 1");
	m_bind(&m, "");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_READ_TXN);

	/* Parsed but executed after a write: execution order counts. */
	m_init(&m);
	m_parse(&m, "b", "BEGIN READ ONLY");
	m_bind(&m, "rw");
	m_simple(&m, FE_EXECUTE);
	m_bind(&m, "b");
	m_simple(&m, FE_EXECUTE);
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);

	/* Preparing (Parse, Describe) runs nothing, whatever the statement. */
	m_init(&m);
	m_parse(&m, "ins", "INSERT INTO t VALUES ($1)");
	m_simple(&m, FE_SYNC);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_READ_STMT);

	/* A simple Query. */
	m_init(&m);
	pktbuf_query(&m.pb, "SELECT 1");
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_READ_STMT);
	assert_int_equal(unit, m.pb.len);
	/* A truncated Query. */
	assert_int_equal(routing_classify_messages(m.pb.data, m.pb.len - 1, named, NULL, &unit), ROUTE_CLASS_WRITE);
	/* Other messages. */
	m_init(&m);
	pktbuf_begin(&m.pb, FE_FUNCTION_CALL);
	pktbuf_put_u32(&m.pb, 1);
	pktbuf_end(&m.pb);
	assert_int_equal(ext(&m, &unit), ROUTE_CLASS_WRITE);
}

static void test_decide(void **state)
{
	route_input_t in = { .mode = READ_ROUTING_AUTO, .cls = ROUTE_CLASS_READ_STMT };
	assert_int_equal(routing_decide(&in), ROUTE_REPLICA);
	in.cls = ROUTE_CLASS_WRITE;
	assert_int_equal(routing_decide(&in), ROUTE_PRIMARY);
	in.ro_entry = true;
	assert_int_equal(routing_decide(&in), ROUTE_REPLICA);
	in.session_mode = true;
	assert_int_equal(routing_decide(&in), ROUTE_REPLICA); /* the _ro alias, session mode too */
	in.ro_entry = false;
	in.cls = ROUTE_CLASS_READ_TXN;
	assert_int_equal(routing_decide(&in), ROUTE_PRIMARY); /* session mode: the primary */
	in.session_mode = false;
	assert_int_equal(routing_decide(&in), ROUTE_REPLICA);
	in.mode = READ_ROUTING_EXPLICIT;
	assert_int_equal(routing_decide(&in), ROUTE_REPLICA);
	in.cls = ROUTE_CLASS_READ_STMT;
	assert_int_equal(routing_decide(&in), ROUTE_PRIMARY);
	in.mode = READ_ROUTING_OFF;
	in.cls = ROUTE_CLASS_READ_TXN;
	in.ro_entry = true;
	assert_int_equal(routing_decide(&in), ROUTE_PRIMARY);
}

static void test_pick(void **state)
{
	route_candidate_t c[3] = {
		{ .usable = true, .replay_lsn = 100, .load = 5 },
		{ .usable = true, .replay_lsn = 200, .load = 2 },
		{ .usable = false, .replay_lsn = 300, .load = 0 },
	};
	assert_int_equal(routing_pick_replica(c, 3, 0, 0), 1);
	assert_int_equal(routing_pick_replica(c, 3, 150, 0), 1);
	assert_int_equal(routing_pick_replica(c, 3, 250, 0), ROUTE_PICK_BEHIND);
	c[1].load = 5;
	/* ties: round robin from start */
	assert_int_equal(routing_pick_replica(c, 3, 0, 0), 0);
	assert_int_equal(routing_pick_replica(c, 3, 0, 1), 1);
	c[0].usable = c[1].usable = false;
	assert_int_equal(routing_pick_replica(c, 3, 0, 0), ROUTE_PICK_NONE);
	assert_int_equal(routing_pick_replica(c, 0, 0, 0), ROUTE_PICK_NONE);
}

static void test_lsn(void **state)
{
	uint64_t l;
	assert_true(routing_parse_lsn("16/B374D848", 11, &l));
	assert_true(l == ((uint64_t)0x16 << 32 | 0xB374D848u));
	assert_true(routing_parse_lsn("0/0", 3, &l));
	assert_true(l == 0);
	assert_false(routing_parse_lsn("16B374D848", 10, &l));
	assert_false(routing_parse_lsn("/1", 2, &l));
	assert_false(routing_parse_lsn("1/", 2, &l));
	assert_false(routing_parse_lsn("1/x", 3, &l));
	assert_false(routing_parse_lsn("123456789/1", 11, &l));
}

static void test_config_keys(void **state)
{
	char err[256], host[256];
	int port;
	config_t *cfg = config_load_string(
		"[databases]\n"
		"app = host=10.0.0.1 port=5433 replicas=10.0.0.2:5432,10.0.0.3,[::1]:6000 read_routing=auto\n"
		"[database big]\n"
		"host = 10.0.0.9\n"
		"replicas = r1:5432\n"
		"replica_max_lag = 1MB\n"
		"replica_max_lag_time = 500ms\n"
		"replica_check_period = 250ms\n"
		"replica_fallback = error\n"
		"read_your_writes = off\n",
		"t.ini", err, sizeof(err));
	assert_non_null(cfg);
	const db_config_t *app = config_find_db(cfg, "app");
	assert_int_equal(config_db_replica_count(app), 3);
	assert_int_equal(app->read_routing, READ_ROUTING_AUTO);
	assert_true(app->replica_max_lag == 16 << 20);
	assert_true(app->replica_check_period == USEC_PER_SEC);
	assert_int_equal(app->read_your_writes, 1);
	assert_true(config_db_replica(app, 0, host, sizeof(host), &port));
	assert_string_equal(host, "10.0.0.2");
	assert_int_equal(port, 5432);
	assert_true(config_db_replica(app, 1, host, sizeof(host), &port));
	assert_string_equal(host, "10.0.0.3");
	assert_int_equal(port, 5433);
	assert_true(config_db_replica(app, 2, host, sizeof(host), &port));
	assert_string_equal(host, "::1");
	assert_int_equal(port, 6000);
	assert_false(config_db_replica(app, 3, host, sizeof(host), &port));
	const db_config_t *big = config_find_db(cfg, "big");
	assert_true(big->replica_max_lag == 1 << 20);
	assert_true(big->replica_max_lag_time == 500 * USEC_PER_MSEC);
	assert_true(big->replica_check_period == 250 * USEC_PER_MSEC);
	assert_int_equal(big->replica_fallback, REPLICA_FALLBACK_ERROR);
	assert_int_equal(big->read_your_writes, 0);
	/* The _ro entry point. */
	assert_ptr_equal(config_find_ro_alias(cfg, "app_ro"), app);
	assert_null(config_find_ro_alias(cfg, "app"));
	assert_null(config_find_ro_alias(cfg, "other_ro"));
	assert_null(config_find_ro_alias(cfg, "_ro"));
	config_t *copy = config_clone(cfg);
	assert_string_equal(config_find_db(copy, "app")->replicas, app->replicas);
	config_unref(copy);
	config_unref(cfg);

	const char *bad[] = {
		"[databases]\napp = replicas=h:0\n",
		"[databases]\napp = replicas=h:x\n",
		"[databases]\napp = replicas=,h\n",
		"[databases]\napp = read_routing=sometimes\n",
		"[databases]\napp = replica_max_lag=12XB\n",
		"[databases]\napp = replica_fallback=maybe\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cfg = config_load_string(bad[i], "t.ini", err, sizeof(err));
		if (cfg)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void test_replica_urls(void **state)
{
	char err[256], host[256];
	int port;
	config_t *cfg = config_new_defaults();
	assert_true(config_apply_database_url(cfg, "postgres://app:pw@primary:5432/app", err, sizeof(err)));
	assert_true(config_apply_replica_urls(cfg, NULL, "postgres://app:pw@replica1:5433/app, postgres://r2/app",
					      err, sizeof(err)));
	const db_config_t *db = config_find_db(cfg, "app");
	assert_int_equal(config_db_replica_count(db), 2);
	assert_int_equal(db->read_routing, READ_ROUTING_AUTO);
	assert_true(config_db_replica(db, 1, host, sizeof(host), &port));
	assert_string_equal(host, "r2");
	assert_int_equal(port, 5432);
	assert_false(config_apply_replica_urls(cfg, NULL, "mysql://x", err, sizeof(err)));
	config_unref(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_classes),
		cmocka_unit_test(test_extended_classes),
		cmocka_unit_test(test_decide),
		cmocka_unit_test(test_pick),
		cmocka_unit_test(test_lsn),
		cmocka_unit_test(test_config_keys),
		cmocka_unit_test(test_replica_urls),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
