/*
 * test_params.c - tracked parameters, extras, and the SET statements built
 * from client-supplied values (which must never let a value escape its
 * literal).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "params.h"

/* ---- tracked parameters ---- */

static void test_lookup_case_insensitive(void **state)
{
	assert_int_equal(param_lookup("client_encoding"), PARAM_CLIENT_ENCODING);
	assert_int_equal(param_lookup("CLIENT_ENCODING"), PARAM_CLIENT_ENCODING);
	assert_int_equal(param_lookup("DateStyle"), PARAM_DATESTYLE);
	assert_int_equal(param_lookup("datestyle"), PARAM_DATESTYLE);
	assert_int_equal(param_lookup("DATESTYLE"), PARAM_DATESTYLE);
	assert_int_equal(param_lookup("timezone"), PARAM_TIMEZONE);
	assert_int_equal(param_lookup("TimeZone"), PARAM_TIMEZONE);
	assert_int_equal(param_lookup("intervalstyle"), PARAM_INTERVALSTYLE);
	assert_int_equal(param_lookup("Standard_Conforming_Strings"), PARAM_STANDARD_CONFORMING_STRINGS);
	assert_int_equal(param_lookup("Application_Name"), PARAM_APPLICATION_NAME);
	/* Not tracked. */
	assert_int_equal(param_lookup("search_path"), -1);
	assert_int_equal(param_lookup(""), -1);
	assert_int_equal(param_lookup("client_encodin"), -1);
	assert_int_equal(param_lookup("client_encoding "), -1);
	assert_int_equal(param_lookup("timezone_abbreviations"), -1);
	/* Names round-trip and are spelled as PostgreSQL reports them. */
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++)
		assert_int_equal(param_lookup(param_name((param_id_t)i)), i);
	assert_string_equal(param_name(PARAM_DATESTYLE), "DateStyle");
	assert_string_equal(param_name(PARAM_TIMEZONE), "TimeZone");
	assert_string_equal(param_name(PARAM_INTERVALSTYLE), "IntervalStyle");
}

static void test_set_assign_change_detection(void **state)
{
	param_set_t ps = { { 0 }, 0 };
	/* NULL -> NULL: no change. */
	assert_false(param_set_assign(&ps, PARAM_TIMEZONE, NULL));
	assert_null(ps.v[PARAM_TIMEZONE]);
	/* NULL -> value. */
	char value[16] = "UTC";
	assert_true(param_set_assign(&ps, PARAM_TIMEZONE, value));
	assert_string_equal(ps.v[PARAM_TIMEZONE], "UTC");
	/* It is a copy. */
	assert_ptr_not_equal(ps.v[PARAM_TIMEZONE], value);
	strcpy(value, "XXX");
	assert_string_equal(ps.v[PARAM_TIMEZONE], "UTC");
	/* Same content from another pointer: no change. */
	assert_false(param_set_assign(&ps, PARAM_TIMEZONE, "UTC"));
	/* Same pointer: no change (and no use after free). */
	assert_false(param_set_assign(&ps, PARAM_TIMEZONE, ps.v[PARAM_TIMEZONE]));
	assert_string_equal(ps.v[PARAM_TIMEZONE], "UTC");
	/* Case matters for values. */
	assert_true(param_set_assign(&ps, PARAM_TIMEZONE, "utc"));
	assert_string_equal(ps.v[PARAM_TIMEZONE], "utc");
	/* Empty string is a value, distinct from NULL. */
	assert_true(param_set_assign(&ps, PARAM_TIMEZONE, ""));
	assert_non_null(ps.v[PARAM_TIMEZONE]);
	assert_string_equal(ps.v[PARAM_TIMEZONE], "");
	assert_true(param_set_assign(&ps, PARAM_TIMEZONE, NULL));
	assert_null(ps.v[PARAM_TIMEZONE]);
	/* Other slots untouched. */
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++)
		assert_null(ps.v[i]);

	/* copy: makes dst equal, independent copies. */
	param_set_t a = { { 0 }, 0 }, b = { { 0 }, 0 };
	param_set_assign(&a, PARAM_CLIENT_ENCODING, "UTF8");
	param_set_assign(&a, PARAM_APPLICATION_NAME, "app");
	param_set_assign(&b, PARAM_DATESTYLE, "ISO, MDY");
	param_set_assign(&b, PARAM_CLIENT_ENCODING, "LATIN1");
	param_set_copy(&b, &a);
	assert_string_equal(b.v[PARAM_CLIENT_ENCODING], "UTF8");
	assert_string_equal(b.v[PARAM_APPLICATION_NAME], "app");
	assert_null(b.v[PARAM_DATESTYLE]);
	assert_ptr_not_equal(b.v[PARAM_CLIENT_ENCODING], a.v[PARAM_CLIENT_ENCODING]);
	param_set_clear(&a);
	for (int i = 0; i < PARAM_TRACKED_COUNT; i++)
		assert_null(a.v[i]);
	assert_string_equal(b.v[PARAM_APPLICATION_NAME], "app");
	param_set_clear(&b);
	param_set_clear(&b); /* twice is fine */
	param_set_clear(&ps);
}

/* ---- extras ---- */

static void collect(const param_extras_t *ex, char *out, size_t cap)
{
	uint32_t pos = 0;
	const char *n, *v;
	size_t len = 0;
	out[0] = 0;
	while (param_extras_next(ex, &pos, &n, &v))
		len += (size_t)snprintf(out + len, cap - len, "%s=%s;", n, v);
	assert_int_equal(pos, ex->len);
}

static void test_extras_add_replace_sort(void **state)
{
	param_extras_t ex = { 0 };
	char buf[256];
	uint32_t pos = 0;
	const char *n, *v;
	/* Empty: nothing to iterate. */
	assert_false(param_extras_next(&ex, &pos, &n, &v));

	param_extras_add(&ex, "search_path", "public");
	param_extras_add(&ex, "extra_float_digits", "3");
	param_extras_add(&ex, "work_mem", "64MB");
	param_extras_add(&ex, "lock_timeout", "5s");
	collect(&ex, buf, sizeof(buf));
	assert_string_equal(buf, "extra_float_digits=3;lock_timeout=5s;search_path=public;work_mem=64MB;");
	/* Packed exactly: name\0value\0... */
	assert_int_equal(ex.len, strlen("extra_float_digits") + 1 + 2 + strlen("lock_timeout") + 1 + 3 +
					 strlen("search_path") + 1 + 7 + strlen("work_mem") + 1 + 5);

	/* Replace in the middle, at the start, at the end. */
	param_extras_add(&ex, "lock_timeout", "10s");
	param_extras_add(&ex, "extra_float_digits", "1");
	param_extras_add(&ex, "work_mem", "");
	collect(&ex, buf, sizeof(buf));
	assert_string_equal(buf, "extra_float_digits=1;lock_timeout=10s;search_path=public;work_mem=;");

	/* Names compare case-insensitively: one entry per parameter. */
	param_extras_add(&ex, "SEARCH_PATH", "s2");
	collect(&ex, buf, sizeof(buf));
	assert_non_null(strstr(buf, "=s2;"));
	assert_null(strstr(buf, "public"));
	int count = 0;
	pos = 0;
	while (param_extras_next(&ex, &pos, &n, &v))
		count++;
	assert_int_equal(count, 4);

	/* Insert before everything. */
	param_extras_add(&ex, "a", "1");
	collect(&ex, buf, sizeof(buf));
	assert_true(strncmp(buf, "a=1;", 4) == 0);
	param_extras_clear(&ex);
	assert_null(ex.data);
	assert_int_equal(ex.len, 0);
	param_extras_clear(&ex);
}

static void test_extras_equal_copy(void **state)
{
	param_extras_t a = { 0 }, b = { 0 }, c = { 0 };
	/* Two empty sets are equal. */
	assert_true(param_extras_equal(&a, &b));
	/* Same content added in different orders. */
	param_extras_add(&a, "x", "1");
	param_extras_add(&a, "y", "2");
	param_extras_add(&a, "z", "3");
	param_extras_add(&b, "z", "3");
	param_extras_add(&b, "x", "0");
	param_extras_add(&b, "y", "2");
	assert_false(param_extras_equal(&a, &b));
	param_extras_add(&b, "x", "1");
	assert_true(param_extras_equal(&a, &b));
	assert_true(param_extras_equal(&b, &a));
	/* Empty vs non-empty. */
	assert_false(param_extras_equal(&a, &c));
	assert_false(param_extras_equal(&c, &a));
	/* Same length, different content. */
	param_extras_add(&c, "x", "1");
	param_extras_add(&c, "y", "2");
	param_extras_add(&c, "z", "4");
	assert_int_equal(c.len, a.len);
	assert_false(param_extras_equal(&a, &c));

	/* copy replaces and is independent. */
	param_extras_copy(&c, &a);
	assert_true(param_extras_equal(&a, &c));
	assert_ptr_not_equal(a.data, c.data);
	param_extras_add(&a, "w", "0");
	assert_false(param_extras_equal(&a, &c));
	/* Copying an empty set empties dst. */
	param_extras_t empty = { 0 };
	param_extras_copy(&c, &empty);
	assert_int_equal(c.len, 0);
	assert_true(param_extras_equal(&c, &empty));

	param_extras_clear(&a);
	param_extras_clear(&b);
	param_extras_clear(&c);
}

/* ---- SET statements ---- */

/* Reads an E'' literal starting at s (pointing at E). Returns the decoded
 * value in out and the position after the closing quote, or NULL when the
 * literal is not closed. PostgreSQL's rules: '' is a quote, \x is x (for the
 * characters we produce). */
static const char *decode_e_literal(const char *s, char *out, size_t cap)
{
	if (s[0] != 'E' || s[1] != '\'')
		return NULL;
	size_t o = 0;
	for (const char *p = s + 2; *p; p++) {
		char ch = *p;
		if (ch == '\\') {
			if (!p[1])
				return NULL;
			ch = *++p;
		} else if (ch == '\'') {
			if (p[1] != '\'') {
				out[o] = 0;
				return p + 1;
			}
			p++;
		}
		if (o + 1 >= cap)
			return NULL;
		out[o++] = ch;
	}
	return NULL;
}

static void check_set_roundtrip(const char *name, const char *value)
{
	char buf[1024];
	size_t len = 0;
	buf[0] = 0;
	assert_true(param_append_set(buf, sizeof(buf), &len, name, value));
	assert_int_equal(len, strlen(buf));
	char prefix[128];
	snprintf(prefix, sizeof(prefix), "SET %s TO ", name);
	assert_true(strncmp(buf, prefix, strlen(prefix)) == 0);
	char decoded[1024];
	const char *end = decode_e_literal(buf + strlen(prefix), decoded, sizeof(decoded));
	if (!end)
		fail_msg("literal not closed in: %s", buf);
	/* The literal ends right before the final ";": nothing escaped it. */
	if (strcmp(end, ";") != 0)
		fail_msg("value escaped its literal: %s", buf);
	assert_string_equal(decoded, value);
}

static void test_append_set_quoting(void **state)
{
	char buf[256];
	size_t len = 0;
	buf[0] = 0;
	assert_true(param_append_set(buf, sizeof(buf), &len, "search_path", "public"));
	assert_string_equal(buf, "SET search_path TO E'public';");
	assert_int_equal(len, strlen(buf));
	/* Quotes and backslashes are doubled. */
	len = 0;
	assert_true(param_append_set(buf, sizeof(buf), &len, "x", "a'b\\c"));
	assert_string_equal(buf, "SET x TO E'a''b\\\\c';");
	/* Appending keeps what was there. */
	assert_true(param_append_set(buf, sizeof(buf), &len, "y", ""));
	assert_string_equal(buf, "SET x TO E'a''b\\\\c';SET y TO E'';");
	assert_true(param_append_reset(buf, sizeof(buf), &len, "z"));
	assert_string_equal(buf, "SET x TO E'a''b\\\\c';SET y TO E'';RESET z;");
	assert_int_equal(len, strlen(buf));

	/* Hostile values all stay inside their literal. */
	static const char *const hostile[] = {
		"'", "''", "\\", "\\\\", "\\'", "'\\", "a'; DROP TABLE t; --", "x\\'; SELECT 1; --",
		"'; RESET ALL; SET x TO '", "\\\\'", "end\\", "$$; SELECT 1; $$", "E'x'", "\"quoted\"",
		"\n;\r\t", "utf-8 \xc3\xa9\xe2\x82\xac", "'''''''''", "\\\\\\\\\\",
	};
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		check_set_roundtrip("application_name", hostile[i]);
	/* Every combination of quote, backslash and letter up to length 4. */
	const char alphabet[] = { '\'', '\\', 'a', ';' };
	char v[5];
	for (int l = 1; l <= 4; l++) {
		int total = 1;
		for (int k = 0; k < l; k++)
			total *= 4;
		for (int code = 0; code < total; code++) {
			int c = code;
			for (int k = 0; k < l; k++) {
				v[k] = alphabet[c % 4];
				c /= 4;
			}
			v[l] = 0;
			check_set_roundtrip("my.setting", v);
		}
	}
}

static void test_append_set_rejects_bad_names(void **state)
{
	static const char *const bad[] = {
		"x; DROP", "", " x", "x ", "a-b", "a'b", "a\"b", "1abc", "9", "a;b", "a=b", "a\\b", "a\nb",
		"x; DROP TABLE t; --", "a(b)", "\xc3\xa9",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char buf[128];
		strcpy(buf, "RESET a;");
		size_t len = strlen(buf);
		if (param_append_set(buf, sizeof(buf), &len, bad[i], "v"))
			fail_msg("name \"%s\" was accepted: %s", bad[i], buf);
		assert_int_equal(len, strlen("RESET a;"));
		assert_string_equal(buf, "RESET a;");
		if (param_append_reset(buf, sizeof(buf), &len, bad[i]))
			fail_msg("name \"%s\" was accepted for RESET: %s", bad[i], buf);
		assert_int_equal(len, strlen("RESET a;"));
		assert_string_equal(buf, "RESET a;");
	}
	/* Plain identifiers (and dotted custom settings) are fine. */
	static const char *const good[] = { "search_path", "a1", "_x", "My.Custom_Var", "DateStyle", "a.b.c" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char buf[128];
		size_t len = 0;
		buf[0] = 0;
		assert_true(param_append_set(buf, sizeof(buf), &len, good[i], "v"));
		assert_true(param_append_reset(buf, sizeof(buf), &len, good[i]));
	}
}

/* When the statement does not fit, nothing of it may be left behind: len and
 * the string in buf are as before (callers send buf as a C string). */
static void test_append_set_buffer_full(void **state)
{
	const char *before = "SET a TO E'1';";
	const char *value = "it's a \\ long value";
	/* What the full append would produce. */
	char full[256];
	size_t full_len = 0;
	full[0] = 0;
	assert_true(param_append_set(full, sizeof(full), &full_len, "a", "1"));
	assert_string_equal(full, before);
	assert_true(param_append_set(full, sizeof(full), &full_len, "application_name", value));
	size_t need = full_len + 1; /* with the NUL */

	for (size_t cap = strlen(before) + 1; cap <= need; cap++) {
		char *buf = malloc(cap);
		assert_non_null(buf);
		memcpy(buf, before, strlen(before) + 1);
		size_t len = strlen(before);
		bool ok = param_append_set(buf, cap, &len, "application_name", value);
		if (cap < need) {
			char seen[256];
			snprintf(seen, sizeof(seen), "%.*s", (int)cap, buf);
			bool same = memchr(buf, 0, cap) && strcmp(buf, before) == 0;
			free(buf);
			if (ok)
				fail_msg("cap %zu: reported success without room", cap);
			assert_int_equal(len, strlen(before));
			if (!same)
				fail_msg("cap %zu: buffer changed after a failed append: \"%s\"", cap, seen);
			continue;
		} else {
			assert_true(ok);
			assert_int_equal(len, full_len);
			assert_string_equal(buf, full);
		}
		free(buf);
	}

}

static void test_append_reset_buffer_full(void **state)
{
	const char *before = "SET a TO E'1';";
	for (size_t cap = strlen(before) + 1; cap < strlen(before) + strlen("RESET application_name;") + 1; cap++) {
		char *buf = malloc(cap);
		assert_non_null(buf);
		memcpy(buf, before, strlen(before) + 1);
		size_t len = strlen(before);
		bool ok = param_append_reset(buf, cap, &len, "application_name");
		char seen[256];
		snprintf(seen, sizeof(seen), "%.*s", (int)cap, buf);
		bool same = memchr(buf, 0, cap) && strcmp(buf, before) == 0;
		free(buf);
		assert_false(ok);
		assert_int_equal(len, strlen(before));
		if (!same)
			fail_msg("cap %zu: buffer changed after a failed RESET append: \"%s\"", cap, seen);
	}
}

/* The signature follows every change, and a NULL value takes the default's. */
static void test_set_signature(void **state)
{
	(void)state;
	param_set_t a = { { 0 }, 0 }, b = { { 0 }, 0 }, defaults = { { 0 }, 0 };
	param_set_assign(&defaults, PARAM_TIMEZONE, "UTC");
	param_set_assign(&a, PARAM_TIMEZONE, "UTC");
	assert_int_equal(param_set_sig(&a, NULL), param_set_sig(&b, &defaults));
	uint64_t before = param_set_sig(&a, NULL);
	param_set_assign(&a, PARAM_TIMEZONE, "Europe/Paris");
	assert_int_not_equal(param_set_sig(&a, NULL), before);
	assert_int_not_equal(param_set_sig(&a, NULL), param_set_sig(&b, &defaults));
	/* NULL and "" are different values. */
	param_set_t e = { { 0 }, 0 }, n = { { 0 }, 0 };
	param_set_assign(&e, PARAM_APPLICATION_NAME, "");
	assert_int_not_equal(param_set_sig(&e, NULL), param_set_sig(&n, NULL));
	param_set_clear(&a);
	param_set_clear(&defaults);
	param_set_clear(&e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_case_insensitive),
		cmocka_unit_test(test_set_assign_change_detection),
		cmocka_unit_test(test_set_signature),
		cmocka_unit_test(test_extras_add_replace_sort),
		cmocka_unit_test(test_extras_equal_copy),
		cmocka_unit_test(test_append_set_quoting),
		cmocka_unit_test(test_append_set_rejects_bad_names),
		cmocka_unit_test(test_append_set_buffer_full),
		cmocka_unit_test(test_append_reset_buffer_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
