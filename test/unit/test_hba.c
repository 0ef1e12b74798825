/*
 * test_hba.c - auth_hba_file parsing (line kinds, lists, quoting, addresses,
 * methods, options, the errors for what is not supported) and matching
 * (first match wins, no match = NULL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>

#include <cmocka.h>

#include "hba.h"

static hba_t *parse_ok(const char *text)
{
	char err[256] = "";
	hba_t *h = hba_parse(text, "hba.conf", err, sizeof(err));
	if (!h)
		fail_msg("parse failed: %s", err);
	return h;
}

/* Parsing fails and the error contains want. */
static void parse_err(const char *text, const char *want)
{
	char err[256] = "";
	hba_t *h = hba_parse(text, "hba.conf", err, sizeof(err));
	if (h) {
		hba_unref(h);
		fail_msg("parse of \"%s\" should fail", text);
	}
	if (!strstr(err, want))
		fail_msg("error \"%s\" does not contain \"%s\"", err, want);
}

static hba_request_t tcp(const char *ip, bool tls, const char *db, const char *user)
{
	hba_request_t r;
	struct sockaddr_in6 sa;
	memset(&r, 0, sizeof(r));
	memset(&sa, 0, sizeof(sa));
	sa.sin6_family = AF_INET6;
	if (strchr(ip, ':')) {
		assert_int_equal(inet_pton(AF_INET6, ip, &sa.sin6_addr), 1);
	} else {
		sa.sin6_addr.s6_addr[10] = 0xff;
		sa.sin6_addr.s6_addr[11] = 0xff;
		assert_int_equal(inet_pton(AF_INET, ip, &sa.sin6_addr.s6_addr[12]), 1);
	}
	hba_request_set_addr(&r, &sa);
	r.tls = tls;
	r.db = db;
	r.user = user;
	return r;
}

static hba_request_t unix_req(const char *db, const char *user)
{
	hba_request_t r;
	memset(&r, 0, sizeof(r));
	r.is_unix = true;
	r.db = db;
	r.user = user;
	return r;
}

/* Method of the first matching line, or -1 when nothing matches. */
static int method(const hba_t *h, hba_request_t r)
{
	const hba_rule_t *rule = hba_match(h, &r);
	return rule ? (int)rule->method : -1;
}

static void test_line_kinds(void **state)
{
	hba_t *h = parse_ok("# comment\n"
			    "\n"
			    "local all all trust\n"
			    "hostssl all all 0.0.0.0/0 cert\n"
			    "hostnossl all all 0.0.0.0/0 md5   # trailing comment\n"
			    "host all all ::/0 scram-sha-256\n");
	assert_int_equal(h->nrules, 4);
	assert_int_equal(h->rules[0].line, 3);
	assert_int_equal(method(h, unix_req("d", "u")), HBA_TRUST);
	assert_int_equal(method(h, tcp("10.1.2.3", true, "d", "u")), HBA_CERT);
	assert_int_equal(method(h, tcp("10.1.2.3", false, "d", "u")), HBA_MD5);
	assert_int_equal(method(h, tcp("::1", false, "d", "u")), HBA_SCRAM);
	assert_int_equal(method(h, tcp("::1", true, "d", "u")), HBA_SCRAM);
	hba_unref(h);
}

static void test_first_match_wins_and_no_match(void **state)
{
	hba_t *h = parse_ok("host app bad 127.0.0.1/32 reject\n"
			    "host app all 127.0.0.1/32 password\n"
			    "host all all 127.0.0.1/32 md5\n");
	assert_int_equal(method(h, tcp("127.0.0.1", false, "app", "bad")), HBA_REJECT);
	assert_int_equal(method(h, tcp("127.0.0.1", false, "app", "u")), HBA_PASSWORD);
	assert_int_equal(method(h, tcp("127.0.0.1", false, "other", "bad")), HBA_MD5);
	assert_int_equal(method(h, tcp("127.0.0.2", false, "app", "u")), -1);
	assert_int_equal(method(h, unix_req("app", "u")), -1);
	assert_int_equal(method(h, tcp("::1", false, "app", "u")), -1);
	assert_null(hba_match(NULL, &(hba_request_t){ .is_unix = true, .db = "a", .user = "b" }));
	hba_unref(h);
}

static void test_database_column(void **state)
{
	hba_t *h = parse_ok("local sameuser all trust\n"
			    "local a,b,\"all\" all md5\n"
			    "local replication all password\n"
			    "local \"sameuser\" all scram-sha-256\n");
	assert_int_equal(method(h, unix_req("joe", "joe")), HBA_TRUST);
	assert_int_equal(method(h, unix_req("a", "joe")), HBA_MD5);
	assert_int_equal(method(h, unix_req("b", "joe")), HBA_MD5);
	/* quoted "all" is a database called all */
	assert_int_equal(method(h, unix_req("all", "joe")), HBA_MD5);
	/* replication never matches a normal connection */
	assert_int_equal(method(h, unix_req("replication", "joe")), -1);
	assert_int_equal(method(h, unix_req("sameuser", "joe")), HBA_SCRAM);
	assert_int_equal(method(h, unix_req("c", "joe")), -1);
	hba_unref(h);
}

static void test_user_column(void **state)
{
	hba_t *h = parse_ok("local all alice,\"bob smith\" trust\n"
			    "local all \"all\" md5\n"
			    "local all all reject\n");
	assert_int_equal(method(h, unix_req("d", "alice")), HBA_TRUST);
	assert_int_equal(method(h, unix_req("d", "bob smith")), HBA_TRUST);
	assert_int_equal(method(h, unix_req("d", "all")), HBA_MD5);
	assert_int_equal(method(h, unix_req("d", "carol")), HBA_REJECT);
	/* names are case-sensitive, as in PostgreSQL */
	assert_int_equal(method(h, unix_req("d", "Alice")), HBA_REJECT);
	hba_unref(h);
}

static void test_addresses(void **state)
{
	hba_t *h;

	parse_err("host all all 10.0.0.0/8 trust\nhost all all 0.0.0.0/0 cert_placeholder\n",
		  "hba.conf:2: authentication method \"cert_placeholder\" is not supported");
	h = parse_ok("host all all 10.0.0.0/8 trust\n"
		     "host all all 192.168.1.0 255.255.255.0 md5\n"
		     "host all all 172.16.5.7/32 password\n"
		     "host all all fe80::/10 scram-sha-256\n"
		     "host all all 2001:db8::1/128 reject\n"
		     "host all all 10.255.0.1 255.255.255.255 md5\n"
		     "host all all all password\n");
	assert_int_equal(method(h, tcp("10.200.3.4", false, "d", "u")), HBA_TRUST);
	assert_int_equal(method(h, tcp("192.168.1.77", false, "d", "u")), HBA_MD5);
	assert_int_equal(method(h, tcp("192.168.2.77", false, "d", "u")), HBA_PASSWORD);
	assert_int_equal(method(h, tcp("172.16.5.7", false, "d", "u")), HBA_PASSWORD);
	assert_int_equal(method(h, tcp("fe80::1234", false, "d", "u")), HBA_SCRAM);
	assert_int_equal(method(h, tcp("2001:db8::1", false, "d", "u")), HBA_REJECT);
	assert_int_equal(method(h, tcp("2001:db8::2", false, "d", "u")), HBA_PASSWORD);
	/* a v4-mapped IPv6 peer is an IPv4 client, as PostgreSQL sees it */
	assert_int_equal(method(h, tcp("::ffff:10.0.0.1", false, "d", "u")), HBA_TRUST);
	hba_unref(h);
	/* host bits in the address are masked off */
	h = parse_ok("host all all 10.1.2.3/16 md5\n");
	assert_int_equal(method(h, tcp("10.1.99.99", false, "d", "u")), HBA_MD5);
	assert_int_equal(method(h, tcp("10.2.0.1", false, "d", "u")), -1);
	hba_unref(h);
}

static void test_methods_and_options(void **state)
{
	hba_t *h = parse_ok("hostssl all all 0.0.0.0/0 md5 clientcert=verify-full\n"
			    "hostssl all all ::/0 scram-sha-256 clientcert=verify-ca\n"
			    "hostssl all all 127.0.0.1/32 cert clientcert=verify-full\n");
	assert_int_equal(h->rules[0].clientcert, HBA_CLIENTCERT_VERIFY_FULL);
	assert_int_equal(h->rules[1].clientcert, HBA_CLIENTCERT_VERIFY_CA);
	assert_int_equal(h->rules[2].method, HBA_CERT);
	assert_int_equal(h->rules[2].clientcert, HBA_CLIENTCERT_VERIFY_FULL);
	assert_string_equal(hba_method_name(HBA_SCRAM), "scram-sha-256");
	assert_string_equal(hba_method_name(HBA_PASSWORD), "password");
	hba_unref(h);
}

static void test_errors(void **state)
{
	parse_err("local all all peer\n", "hba.conf:1: authentication method \"peer\" is not supported");
	parse_err("local all all trust\nhost all all 1.2.3.4/32 ident\n",
		  "hba.conf:2: authentication method \"ident\" is not supported");
	parse_err("local all all ldap ldapserver=x\n", "\"ldap\" is not supported");
	parse_err("local @dbs all trust\n", "@file");
	parse_err("local all @users trust\n", "@file");
	parse_err("local all +admins trust\n", "group membership (+admins) is not supported");
	parse_err("local samerole all trust\n", "\"samerole\" is not supported");
	parse_err("host all all samenet trust\n", "\"samenet\" is not supported");
	parse_err("host all all samehost trust\n", "\"samehost\" is not supported");
	parse_err("host all all db.example.com trust\n", "host names are not supported");
	parse_err("host all all 10.0.0.0/33 trust\n", "invalid CIDR mask");
	parse_err("host all all 10.0.0.0/ trust\n", "invalid CIDR mask");
	parse_err("host all all 10.0.0.0 ffff:: trust\n", "invalid IP mask");
	parse_err("host all all 10.0.0.0 trust\n", "invalid IP mask");
	parse_err("host all all 10.0.0.1/32\n", "end-of-line before authentication method");
	parse_err("local all all\n", "end-of-line before authentication method");
	parse_err("hostgssenc all all all trust\n", "not supported");
	parse_err("remote all all all trust\n", "invalid connection type");
	parse_err("local all all trust extra=1\n", "authentication option \"extra=1\" is not supported");
	parse_err("host all all all cert\n", "cert authentication is only supported on hostssl");
	parse_err("host all all all md5 clientcert=verify-ca\n", "clientcert is only supported on hostssl");
	parse_err("hostssl all all all cert clientcert=verify-ca\n", "verify-full");
	parse_err("local \"unterminated all trust\n", "unterminated quoted string");
	parse_err("local a,,b all trust\n", "empty item");
	parse_err("local a, all trust\n", "empty item");
	parse_err("local all a\tb\x01 trust\n", "control character");
}

static void test_quotes(void **state)
{
	hba_t *h = parse_ok("local \"my db\",\"with \"\"quote\"\"\" all md5 # \"quoted\" comment\n"
			    "local \"#notcomment\" all trust\n");
	assert_int_equal(method(h, unix_req("my db", "u")), HBA_MD5);
	assert_int_equal(method(h, unix_req("with \"quote\"", "u")), HBA_MD5);
	assert_int_equal(method(h, unix_req("#notcomment", "u")), HBA_TRUST);
	hba_unref(h);
}

static void test_refcount_and_file(void **state)
{
	char path[] = "/tmp/test_hba_XXXXXX";
	int fd = mkstemp(path);
	char err[256];
	assert_true(fd >= 0);
	const char *text = "local all all trust\r\nhost all all 127.0.0.1/32 md5\r\n";
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	hba_t *h = hba_load_file(path, err, sizeof(err));
	assert_non_null(h);
	assert_int_equal(h->nrules, 2);
	assert_ptr_equal(hba_ref(h), h);
	hba_unref(h);
	assert_int_equal(method(h, tcp("127.0.0.1", false, "d", "u")), HBA_MD5);
	hba_unref(h);
	unlink(path);
	assert_null(hba_load_file(path, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_line_kinds),
		cmocka_unit_test(test_first_match_wins_and_no_match),
		cmocka_unit_test(test_database_column),
		cmocka_unit_test(test_user_column),
		cmocka_unit_test(test_addresses),
		cmocka_unit_test(test_methods_and_options),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_quotes),
		cmocka_unit_test(test_refcount_and_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
