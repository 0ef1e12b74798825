#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpora under test/fuzz/corpus/<target>/.

Run once from anywhere: python3 test/fuzz/make_corpus.py
Seeds are rewritten in place; other files (crash regressions added by hand,
named crash-*) are left alone. The input layouts are described at the top of
each fuzz_<target>.c.
"""
import hashlib
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def write(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def u32(v):
    return struct.pack(">I", v & 0xFFFFFFFF)


def u16(v):
    return struct.pack(">H", v & 0xFFFF)


def cstr(s):
    return (s.encode() if isinstance(s, str) else s) + b"\0"


# ---- protocol messages ----

def startup(params, major=3, minor=0, terminator=True):
    body = b"".join(cstr(k) + cstr(v) for k, v in params)
    if terminator:
        body += b"\0"
    return u32(8 + len(body)) + u32((major << 16) | minor) + body


SSL_REQUEST = u32(8) + u32((1234 << 16) | 5679)
GSSENC_REQUEST = u32(8) + u32((1234 << 16) | 5680)


def cancel(pid, key):
    return u32(12 + len(key)) + u32((1234 << 16) | 5678) + u32(pid) + key


def msg(t, body=b""):
    return t.encode() + u32(4 + len(body)) + body


def error(fields):
    return b"".join(k.encode() + cstr(v) for k, v in fields) + b"\0"


def data_row(cols):
    b = u16(len(cols))
    for c in cols:
        b += u32(0xFFFFFFFF) if c is None else u32(len(c)) + c
    return b


def row_desc(names):
    b = u16(len(names))
    for n in names:
        b += cstr(n) + u32(16384) + u16(1) + u32(23) + u16(4) + u32(0xFFFFFFFF) + u16(0)
    return b


# ---- SCRAM, RFC 7677 section 3 ----

RFC_CLIENT_FIRST = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
RFC_SUFFIX = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
RFC_NONCE = "rOprNGfwEbeRWgbNEkqO" + RFC_SUFFIX
RFC_SERVER_FIRST = "r=" + RFC_NONCE + ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
RFC_CLIENT_FINAL = "c=biws,r=" + RFC_NONCE + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
RFC_SERVER_FINAL = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
RFC_SECRET = ("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"
              "WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:"
              "wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU=")


def md5hex(b):
    return hashlib.md5(b).hexdigest()


def startup_corpus():
    t = "startup"
    write(t, "v30_psql", startup([("user", "alice"), ("database", "app"),
                                  ("application_name", "psql"), ("client_encoding", "UTF8")]))
    write(t, "v30_user_only", startup([("user", "bob")]))
    write(t, "v30_jdbc", startup([("user", "app"), ("database", "appdb"), ("DateStyle", "ISO"),
                                  ("TimeZone", "UTC"), ("extra_float_digits", "2"),
                                  ("search_path", "public")]))
    write(t, "v32_pq_options", startup([("user", "alice"), ("_pq_.test_option", "on"),
                                        ("database", "")], minor=2))
    write(t, "v30_then_password", startup([("user", "u")]) + msg("p", cstr("secret")))
    write(t, "ssl_request", SSL_REQUEST)
    write(t, "gssenc_request", GSSENC_REQUEST)
    write(t, "ssl_request_bad_len", u32(16) + u32((1234 << 16) | 5679) + b"\0" * 8)
    write(t, "cancel_v30", cancel(4242, b"\x01\x02\x03\x04"))
    write(t, "cancel_v32_long_key", cancel(4242, bytes(range(32))))
    write(t, "cancel_short", u32(12) + u32((1234 << 16) | 5678) + u32(1))
    write(t, "v2_unsupported", startup([("user", "old")], major=2))
    write(t, "no_terminator", startup([("user", "alice")], terminator=False))
    write(t, "empty_name", u32(8 + 8) + u32(3 << 16) + b"\0x\0user\0\0"[:8])
    write(t, "missing_value", u32(8 + 6) + u32(3 << 16) + b"user\0\0")
    write(t, "no_user", startup([("database", "app")]))
    write(t, "too_many_params",
          startup([("user", "u")] + [("p%d" % i, "v") for i in range(65)]))
    write(t, "user_too_long", startup([("user", "u" * 64)]))
    write(t, "len_too_big", u32(10001) + u32(3 << 16))
    write(t, "truncated", startup([("user", "alice"), ("database", "app")])[:20])
    write(t, "short_header", b"\x00\x00\x00")
    write(t, "query_message", msg("Q", cstr("select 1")))


def scram_corpus():
    t = "scram"
    first, final = RFC_CLIENT_FIRST, RFC_CLIENT_FINAL
    write(t, "0_server_first_rfc", "0" + first)
    write(t, "0_server_first_y", "0y,,n=,r=fyko+d2lbbFgONRv9qkxdawL")
    write(t, "0_server_first_p", "0p=tls-server-end-point,,n=,r=abc")
    write(t, "0_server_first_authzid", "0n,a=admin,n=user,r=abc")
    write(t, "0_server_first_mext", "0n,,m=ext,n=user,r=abc")
    write(t, "0_server_first_ext", "0n,,n=user,r=abc,x=extension")
    write(t, "0_server_first_nul", "0n,,n=us\0er,r=abc")
    write(t, "1_server_rfc_ok", "1" + first + "\0" + final)
    write(t, "1_server_bad_proof", "1" + first + "\0" + final[:-5] + "AAAA=")
    write(t, "1_server_ext_before_proof",
          "1" + first + "\0" + "c=biws,r=" + RFC_NONCE + ",x=y,p=" + final.split(",p=")[1])
    write(t, "1_server_y_flag", "1y,,n=user,r=rOprNGfwEbeRWgbNEkqO\0c=eSws,r=" + RFC_NONCE + ",p=AA==")
    write(t, "2_mock_rfc", "2" + first + "\0" + final)
    write(t, "3_client_keys_rfc", "3" + RFC_SERVER_FIRST + "\0" + RFC_SERVER_FINAL)
    write(t, "3_client_server_error", "3" + RFC_SERVER_FIRST + "\0e=invalid-proof")
    write(t, "3_client_mext", "3m=ext," + RFC_SERVER_FIRST + "\0" + RFC_SERVER_FINAL)
    write(t, "3_client_bad_nonce", "3r=someoneelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096\0v=AA==")
    write(t, "4_client_password_rfc", "4" + RFC_SERVER_FIRST + "\0" + RFC_SERVER_FINAL)
    write(t, "4_client_password_i1",
          "4r=" + RFC_NONCE + ",s=c2FsdA==,i=1\0" + RFC_SERVER_FINAL)
    write(t, "5_secret_rfc", "5" + RFC_SECRET + "\0" + first)
    write(t, "5_secret_bad_iter", "5" + RFC_SECRET.replace("$4096:", "$0:"))
    write(t, "5_secret_long_salt",
          "5SCRAM-SHA-256$1:" + "QUFB" * 22 + "$" + RFC_SECRET.split("$")[2] + "\0" + first)
    md5_secret = "md5" + md5hex(b"pencil" + b"user")
    salt = bytes([1, 2, 3, 4])
    resp = "md5" + md5hex(md5_secret[3:].encode() + salt)
    write(t, "6_md5_secret", "6" + md5_secret + "\0" + resp + "\0user")
    write(t, "6_md5_plain", "6pencil\0" + resp + "\0user")
    write(t, "6_md5_scram", "6" + RFC_SECRET + "\0" + resp + "\0user")
    write(t, "7_round_trip_rfc", "7rOprNGfwEbeRWgbNEkqO\0" + RFC_SUFFIX + "\0user")
    write(t, "7_round_trip_escaped_user", "7abc\0def\0a,b=c")
    write(t, "7_round_trip_long_nonce", "7" + "n" * 250 + "\0" + "s" * 6 + "\0u")


def config_corpus():
    t = "config"
    with open(os.path.join(ROOT, "etc", "pgtide.ini"), "rb") as f:
        write(t, "0_sample_ini", b"0" + f.read())
    write(t, "0_full", "0[pgtide]\nlisten_addr = 0.0.0.0\nlisten_port = 7432\n"
          "pool_mode = session\nreserve_pool_timeout = 2.5\nserver_lifetime = 2h\n"
          "server_idle_timeout = 5min\nserver_login_retry = 500ms\nquery_timeout = 250us\n"
          "client_idle_timeout = 1d\nauth_type = scram-sha-256\nadmin_users = admin, root\n"
          "log_format = JSON\ntcp_keepalive = off\nserver_reset_query_always = yes\n"
          "\n[databases]\n"
          "app = host=10.0.0.1 port=5433 dbname=appdb user=appuser password='s3cr et' "
          "pool_size=5 pool_mode=transaction\n* = host=/var/run/postgresql\n")
    write(t, "0_pgbouncer", "0[pgbouncer]\nlisten_port = 6432\nauth_type = md5\n"
          "auth_file = userlist.txt\nlogfile = pgbouncer.log\n\n[databases]\n"
          "db1 = host=127.0.0.1 dbname=db1\n")
    write(t, "0_database_section", "0[database app]\nhost = db.example.com\nport = 6543\n"
          "password = '  leading and trailing  '\npool_mode = session\n"
          "connect_query = SET search_path = app, public\n\n[database empty]\n\n"
          "[databases]\nother = host=h2\n")
    write(t, "0_bom_colon", b"0\xef\xbb\xbf[pgtide]\r\nlisten_port: 7001\r\n")
    write(t, "0_inline_comments", "0[database app]\npassword = abc ;def\n"
          "[pgtide]\nadmin_users = a;b\n# comment\n; comment\n")
    write(t, "0_indented", "0[pgtide]\n    listen_addr = 10.1.1.1\n\t[databases]\n\tapp = host=h\n")
    write(t, "0_errors_section", "0[users]\nalice = x\n")
    write(t, "0_errors_include", "0%include other.ini\n")
    write(t, "0_errors_no_equals", "0[pgtide]\nlisten_port\n")
    write(t, "0_long_line", "0[pgtide]\nadmin_users = " + "a" * 190 + "\n")
    write(t, "0_twice", "0[databases]\napp = host=a\n[database app]\n")
    write(t, "0_durations", "0[pgtide]\nserver_lifetime = 9223372036854.775807\n"
          "query_timeout = 1.000001 min\nstats_period = 0.5\n")
    write(t, "1_connstr_full", "1host=10.0.0.1 port=5433 dbname=appdb user=appuser "
          "password='s3cr et' pool_size=5 pool_mode=transaction min_pool_size=1 "
          "reserve_pool=2 max_db_connections=30 client_encoding=UTF8 datestyle=ISO "
          "timezone=UTC application_name=x connect_query='select 1'")
    write(t, "1_connstr_quoting", "1  host=h1   port = 5433 dbname='my db' user=u "
          "password='it\\'s a \\\\ secret' application_name=a\\ b timezone='' datestyle=ISO\\,DMY ")
    write(t, "1_connstr_unterminated", "1password='abc")
    write(t, "1_connstr_bad_port", "1port=99999")
    write(t, "1_connstr_after_quote", "1dbname='a'b")
    write(t, "2_url_full", "2postgresql://us%40er:p%3Ass%2Fw@rd@db.example.com:6543/my%20db"
          "?sslmode=prefer&application_name=x")
    write(t, "2_url_ipv6", "2postgres://bob@[::1]:5433/app")
    write(t, "2_url_user_pw", "2postgres://bob:pw@localhost")
    write(t, "2_url_socket", "2postgresql://app@/appdb?host=/var/run/postgresql&port=5434")
    write(t, "2_url_pct_host", "2postgresql://%2Ftmp/db")
    write(t, "2_url_no_host", "2postgresql:///db")
    write(t, "2_url_query_all", "2postgres://h?user=u&password=p%40ss&dbname=d%20b&port=6000"
          "&host=%2Fvar%2Frun&sslmode=disable")
    write(t, "2_url_bad_pct", "2postgres://u:s3%2@h/db")
    write(t, "2_url_sslmode", "2postgres://u:s3cret@h/db?sslmode=require")
    write(t, "2_url_pw_no_user", "2postgres://:s3cret@h/db")
    write(t, "3_ini_then_url", "3[databases]\napp = host=a\n\0postgres://u:p@h:5433/app")
    write(t, "4_set_duration", "4server_lifetime\x001.5h")
    write(t, "4_set_enum", "4pool_mode\0session")
    write(t, "4_set_int_range", "4listen_port\x0099999")
    write(t, "4_set_bool", "4log_stats\0yes")
    write(t, "4_set_ignored", "4server_tls_sslmode\0disable")
    write(t, "5_userlist", "5\"alice\" \"old\"\n\"bob\" \"md5a3556571e93b0d20722ba62be61e8c2d\"\n"
          "; comment\n# comment\n\"quo\"\"te\" \"with \"\"quotes\"\" inside\"\n"
          "\"carol\" \"SCRAM-SHA-256$4096:c2FsdA==$c3RvcmVk:c2VydmVy\"\n"
          "\"trusty\" \"\"\n\"alice\" \"newer secret\" \"extra\"\n")
    write(t, "5_userlist_errors", "5\"a\" \"b\"\n\"bob\" \"s3cret\n")
    write(t, "5_userlist_bad_quote", "5\"bob\" \"s3\"cret\"\n")
    write(t, "6_settings", "6listen_port = 7000\nworkers = 2\nmax_packet_size = 1024\n"
          "verbose = 3\nlog_connections = on\ncancel_wait_timeout = 0\nmetrics_port = 9127\n")
    write(t, "7_databases", "7app = host=h port=1 dbname=d\n* = host=/tmp\nbad name = host=x\n")


def framer_corpus():
    t = "framer"

    def hdr(nsplits=0, startup=False, maxlen=0, cap=0, cuts=()):
        b = bytes([(nsplits & 7) | (8 if startup else 0) | ((maxlen & 3) << 4) | ((cap & 3) << 6)])
        for c in cuts[:nsplits]:
            b += u16(c)
        return b

    login = (msg("R", u32(0)) + msg("S", cstr("server_version") + cstr("15.4")) +
             msg("S", cstr("client_encoding") + cstr("UTF8")) +
             msg("S", cstr("DateStyle") + cstr("ISO, MDY")) +
             msg("K", u32(1234) + u32(0xdeadbeef)) + msg("Z", b"I"))
    write(t, "server_login", hdr(3, cuts=(3, 17, 40)) + login)
    result = (msg("1") + msg("2") + msg("T", row_desc(["a", "b"])) +
              msg("D", data_row([b"1", None])) + msg("D", data_row([b"22", b"x"])) +
              msg("C", cstr("SELECT 2")) + msg("Z", b"T"))
    write(t, "query_result", hdr(2, cuts=(1, 30)) + result)
    err = error([("S", "ERROR"), ("V", "ERROR"), ("C", "42P01"),
                 ("M", 'relation "x" does not exist'), ("P", "15")])
    write(t, "error_ready", hdr(1, cuts=(9,)) + msg("E", err) + msg("Z", b"E"))
    write(t, "notice_notify_copy", hdr() +
          msg("N", error([("S", "NOTICE"), ("C", "00000"), ("M", "hi")])) +
          msg("A", u32(77) + cstr("chan") + cstr("payload")) +
          msg("v", u32(0x30000) + u32(1) + cstr("_pq_.x")) +
          msg("G", b"\0" + u16(2) + u16(0) + u16(0)) + msg("d", b"1\t2\n") + msg("c") +
          msg("t", u16(2) + u32(23) + u32(25)) + msg("V", u32(2) + b"ok") + msg("n") +
          msg("s") + msg("I") + msg("3"))
    write(t, "sasl_login", hdr(2, cuts=(8, 40)) +
          msg("R", u32(10) + cstr("SCRAM-SHA-256") + b"\0") +
          msg("R", u32(11) + RFC_SERVER_FIRST.encode()) +
          msg("R", u32(12) + RFC_SERVER_FINAL.encode()) + msg("R", u32(0)) +
          msg("R", u32(5) + b"\x01\x02\x03\x04"))
    client = (startup([("user", "alice"), ("database", "app")]) + msg("Q", cstr("select 1")) +
              msg("P", cstr("s1") + cstr("select $1") + u16(1) + u32(23)) +
              msg("B", cstr("") + cstr("s1") + u16(1) + u16(0) + u16(1) + u32(1) + b"5" +
                  u16(1) + u16(0)) +
              msg("D", b"P" + cstr("")) + msg("E", cstr("") + u32(0)) + msg("S") + msg("X"))
    write(t, "client_session", hdr(4, startup=True, cuts=(5, 9, 30, 60)) + client)
    write(t, "client_ssl_first", hdr(1, startup=True, cuts=(4,)) + SSL_REQUEST +
          startup([("user", "u")]) + msg("Q", cstr("begin")))
    write(t, "client_sasl_response", hdr(0, startup=True) + startup([("user", "u")]) +
          msg("p", cstr("SCRAM-SHA-256") + u32(len(RFC_CLIENT_FIRST)) + RFC_CLIENT_FIRST.encode()) +
          msg("p", RFC_CLIENT_FINAL.encode()))
    write(t, "client_cancel", hdr(0, startup=True) + cancel(99, b"\0\0\0\1"))
    write(t, "client_bad_startup", hdr(0, startup=True) + u32(4) + u32(3 << 16))
    big = msg("D", data_row([b"x" * 300]))
    write(t, "big_streamed", hdr(2, cap=1, cuts=(20, 200)) + big + msg("C", cstr("SELECT 1")) +
          msg("Z", b"I"))
    write(t, "bad_length", hdr() + msg("Z", b"I") + b"Q\0\0\0\3")
    write(t, "over_max_len", hdr(1, maxlen=1, cuts=(7,)) + msg("Z", b"I") + b"Q" + u32(2000) + b"x" * 20)
    write(t, "many_splits", hdr(7, cuts=(1, 2, 3, 5, 8, 13, 21)) + login)
    write(t, "partial_tail", hdr() + login + b"Z\0\0")


def sqlclass_corpus():
    """Query texts: each seed aims at one lexer state or classifier rule."""
    t = "sqlclass"
    seeds = {
        "pgbench_select": "SELECT abalance FROM pgbench_accounts WHERE aid = 42;",
        "pgbench_tx": "BEGIN; UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = 1; "
                      "SELECT abalance FROM pgbench_accounts WHERE aid = 1; END;",
        "for_update": "SELECT * FROM t WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED",
        "comment_hides": "SELECT /* FOR UPDATE /* nested */ still */ 1 -- FOR SHARE",
        "cte_writes": "WITH x AS (DELETE FROM t RETURNING *), y AS (SELECT 1) SELECT * FROM x, y",
        "cte_recursive": "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                         "SEARCH DEPTH FIRST BY n SET ord SELECT * FROM r LIMIT 5",
        "cte_main_insert": "WITH update AS (SELECT 1) INSERT INTO t SELECT * FROM update",
        "select_into_temp": "SELECT * INTO LOCAL TEMP t2 FROM t; SELECT 1 INTO pg_temp.t3",
        "explain": "EXPLAIN (ANALYZE, BUFFERS) WITH x AS (SELECT 1) SELECT * FROM x; "
                   "EXPLAIN ANALYZE VERBOSE INSERT INTO t VALUES (1)",
        "denied_calls": "SELECT nextval('s'), pg_catalog.setval('s', 1), \"lo_import\"('/x'), "
                        "U&\"nextv\\0061l\"('s'), dblink_exec('d', 'x')",
        "advisory": "SELECT pg_advisory_lock(1); SELECT pg_try_advisory_lock_shared(1, 2); "
                    "SELECT pg_advisory_unlock_all()",
        "uescape_call": "SELECT U&\"!0070g_advisory_lock\" UESCAPE '!' (1), "
                        "U&\"\\D83D\\DE00\"(2)",
        "set_forms": "SET search_path = a, b; SET LOCAL x = 1; SET SESSION CHARACTERISTICS AS "
                     "TRANSACTION READ ONLY; SET TIME ZONE 'UTC'; SET CONSTRAINTS ALL DEFERRED",
        "roles": "SET ROLE admin; SET SESSION AUTHORIZATION DEFAULT; SET role TO none; RESET ROLE",
        "reset_discard": "RESET ALL; DISCARD ALL; DISCARD TEMP; DEALLOCATE PREPARE ALL",
        "listen": "LISTEN chan; UNLISTEN *; NOTIFY chan, 'x'",
        "temp_objects": "CREATE GLOBAL TEMPORARY TABLE t (a int) ON COMMIT DELETE ROWS; "
                        "CREATE TEMP TABLE u (a int) ON COMMIT DROP; CREATE TABLE pg_temp_2.v (a int)",
        "cursor_hold": "DECLARE c BINARY SCROLL CURSOR WITH HOLD FOR SELECT 1; CLOSE c; CLOSE ALL",
        "load_drop": "LOAD 'auto_explain'; DROP TABLE IF EXISTS t",
        "prepare": "PREPARE \"My\"\"Stmt\" (int, numeric(10, 2)) AS SELECT $1, $2; "
                   "EXECUTE \"My\"\"Stmt\"(1, 2.5); DEALLOCATE PREPARE \"My\"\"Stmt\"",
        "prepare_transaction": "PREPARE TRANSACTION 'gid'; COMMIT PREPARED 'gid'; "
                               "PREPARE transaction AS SELECT 1",
        "begin_modes": "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY, NOT DEFERRABLE; "
                       "START TRANSACTION READ WRITE, READ ONLY; ROLLBACK TO SAVEPOINT a; ABORT",
        "do_block": "DO $body$ BEGIN PERFORM set_config('a', 'b', false); "
                    "PERFORM pg_advisory_lock(1); END $body$",
        "begin_atomic": "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC "
                        "SELECT CASE WHEN true THEN 1 END; SELECT 2; END; SELECT f()",
        "create_rule": "CREATE RULE r AS ON INSERT TO t DO ALSO (INSERT INTO a VALUES (1); "
                       "DELETE FROM b); SELECT 1",
        "strings": "SELECT 'it''s', E'\\'\\\\\\x41\\u00e9', B'1010', X'ff', N'nat', "
                   "U&'d\\0061t' UESCAPE '\\', $$a;b$$, $q$ $$ ; $q$",
        "continuation": "SELECT 'a'\n'b' -- c\n  'c', E'x'\n'\\'' ; SELECT 'd' /* */\n'e'",
        "ambiguous": "SELECT '\\' , $$'; DELETE FROM t; --$$",
        "sjis_backslash": b"SELECT E'\x82\\' ; DELETE FROM t; --'",
        "numbers": "SELECT 1.5e-3, .5, 1., 0x1F, 0o17, 0b101, 1_000, 1..2, 1e, 1for, $1, $23::int",
        "operators": "SELECT a <> b, c != d, e::text[], f := 1, g => 2, h+-- c\n1, i*/*c*/2, \\x",
        "dollar_tags": "SELECT $a$ $b$ $a$, a$b$, $_$x$_$, $1$, $ab c",
        "identifiers": "SELECT \"a\"\"b\", \"\xc3\xa4\", \xc3\xbc_col, _x, x1$ FROM \"s\".\"t\"",
        "names_long": "EXECUTE " + "abcdefghij" * 7 + "; DEALLOCATE \"" + "Q" * 70 + "\"",
        "unterminated_string": "SELECT 1; SELECT 'oops",
        "unterminated_comment": "SELECT 1; /* /* */",
        "unterminated_dollar": "SELECT $tag$ never closed",
        "unterminated_ident": "SELECT \"never",
        "parens": "(SELECT 1) UNION ((VALUES (2))); SELECT 1); SELECT (1",
        "empty": ";; -- nothing\n /* nothing */ ;",
        "nul_byte": b"SELECT 1\0; SET x = 1",
        "high_bytes": b"SELECT '\xff\xfe' \xe9\x80\x80 \x80",
    }
    for name, text in seeds.items():
        write(t, name, text)


def main():
    startup_corpus()
    scram_corpus()
    config_corpus()
    framer_corpus()
    sqlclass_corpus()


if __name__ == "__main__":
    main()
