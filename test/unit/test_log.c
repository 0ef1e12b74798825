/*
 * test_log.c - log lines as text and as JSON: one line per event, and in
 * JSON the "event: key=value" messages become separate fields.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"

static char g_path[64];

/* Logs through a fresh file and returns its content (static buffer). */
static const char *logged(bool json, void (*emit)(void))
{
	static char buf[8192];
	snprintf(g_path, sizeof(g_path), "/tmp/pgtide-test-log.%d", (int)getpid());
	unlink(g_path);
	assert_true(log_configure(0, g_path, json));
	emit();
	log_close();
	FILE *f = fopen(g_path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(g_path);
	return buf;
}

static void emit_pairs(void)
{
	log_warning("pooler error: db=%s user=%s addr=%s port=%d sqlstate=%s msg=\"%s\"", "app", "bob", "10.0.0.7",
		    5432, "53300", "no more connections allowed (max_client_conn)");
}

static void emit_plain(void)
{
	log_info("pgtide listening on 127.0.0.1:6432 (\"quoted\"), 2 worker(s)");
}

static void test_json_fields(void **state)
{
	(void)state;
	const char *line = logged(true, emit_pairs);
	assert_non_null(strstr(line, "\"level\":\"WARNING\""));
	assert_non_null(strstr(line, "\"event\":\"pooler error\""));
	assert_non_null(strstr(line, "\"db\":\"app\""));
	assert_non_null(strstr(line, "\"user\":\"bob\""));
	assert_non_null(strstr(line, "\"addr\":\"10.0.0.7\""));
	assert_non_null(strstr(line, "\"port\":\"5432\""));
	assert_non_null(strstr(line, "\"sqlstate\":\"53300\""));
	assert_non_null(strstr(line, "\"msg\":\"no more connections allowed (max_client_conn)\""));
	assert_int_equal(line[0], '{');
	assert_non_null(strstr(line, "}\n"));
	assert_null(strchr(strchr(line, '\n') + 1, '\n')); /* one line */
}

static void test_json_free_text(void **state)
{
	(void)state;
	const char *line = logged(true, emit_plain);
	assert_non_null(strstr(line, "\"msg\":\"pgtide listening on 127.0.0.1:6432 (\\\"quoted\\\"), 2 worker(s)\""));
	assert_null(strstr(line, "\"event\""));
}

static void test_text_line(void **state)
{
	(void)state;
	const char *line = logged(false, emit_pairs);
	assert_non_null(strstr(line, " WARNING pooler error: db=app user=bob addr=10.0.0.7 port=5432 sqlstate=53300 "));
	assert_null(strchr(strchr(line, '\n') + 1, '\n'));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_fields),
		cmocka_unit_test(test_json_free_text),
		cmocka_unit_test(test_text_line),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
