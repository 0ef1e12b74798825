/*
 * fuzz_config.c - the configuration parsers: INI text, [databases]
 * connection strings, DATABASE_URL, admin SET values and the auth_file.
 *
 * The first input byte chooses the parser (its low 3 bits) and a tiny error
 * buffer (bit 7); the rest is the text. Modes 3 and 4 split the rest at its
 * first NUL into two strings A and B.
 *
 *   0  config_load_string(text)
 *   1  config_parse_db_connstr("fuzzdb", text)
 *   2  config_apply_database_url(defaults, text)
 *   3  config_load_string(A), then config_apply_database_url(that, B)
 *   4  config_set(defaults, A, B)
 *   5  config_load_auth_file on text (through a memfd: no file on disk)
 *   6  config_load_string("[pgtide]\n" text)
 *   7  config_load_string("[databases]\n" text)
 *
 * Besides memory safety and leaks, a config that loads is checked for what
 * the rest of pgtide assumes: valid ports and modes, unique database names,
 * users sorted and unique (bsearch), every setting printing a value that
 * sets it back to itself, and a clone that prints the same. A failed
 * DATABASE_URL or auth_file must leave the config as it was.
 */
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "fuzz_common.h"

#define ERRLEN 256
#define SMALL_ERRLEN 8
#define VALUE_MAX 4096

static char *err_buf(size_t errlen)
{
	char *err = malloc(errlen);

	if (!err)
		abort();
	err[0] = '\0';
	return err;
}

static void check_err(const char *err, size_t errlen)
{
	FUZZ_CHECK(memchr(err, 0, errlen) != NULL);
}

static void check_db(const db_config_t *db)
{
	FUZZ_CHECK(db->name != NULL && db->name[0] != '\0');
	FUZZ_CHECK(db->port >= 1 && db->port <= 65535);
	FUZZ_CHECK(db->pool_mode == POOL_MODE_INHERIT || db->pool_mode == POOL_MODE_SESSION ||
		   db->pool_mode == POOL_MODE_TRANSACTION);
	FUZZ_CHECK(db->pool_size == -1 || db->pool_size >= 1);
	FUZZ_CHECK(db->min_pool_size >= -1 && db->reserve_pool >= -1 &&
		   db->max_db_connections >= -1);
	/* "not set" has one representation: NULL, never "" */
	const char *strs[] = { db->host, db->dbname, db->user, db->password, db->client_encoding,
			       db->datestyle, db->timezone, db->application_name,
			       db->connect_query };
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
		FUZZ_CHECK(strs[i] == NULL || strs[i][0] != '\0');
}

static void check_users(const config_t *cfg)
{
	for (size_t i = 0; i < cfg->nusers; i++) {
		FUZZ_CHECK(cfg->users[i].name && cfg->users[i].secret);
		if (i > 0)
			FUZZ_CHECK(strcmp(cfg->users[i - 1].name, cfg->users[i].name) < 0);
		FUZZ_CHECK(config_find_user_secret(cfg, cfg->users[i].name) == cfg->users[i].secret);
	}
}

/* Each setting prints a value that sets it back to the same printed value. */
static void check_settings(const config_t *cfg)
{
	static char a[VALUE_MAX], b[VALUE_MAX];
	char err[ERRLEN];
	config_t *copy = config_clone(cfg);

	for (size_t i = 0; i < config_setting_count(); i++) {
		const config_setting_t *s = config_setting_at(i);

		FUZZ_CHECK(config_setting_find(s->name) == s);
		config_format_value(cfg, s, a, sizeof(a));
		config_format_value(copy, s, b, sizeof(b));
		FUZZ_CHECK(strcmp(a, b) == 0);
		if (strlen(a) + 1 >= sizeof(a))
			continue; /* cut: cannot round-trip */
		if (!config_set(copy, s->name, a, err, sizeof(err))) {
			fprintf(stderr, "setting %s: '%s' does not set back: %s\n", s->name, a, err);
			FUZZ_CHECK(!"printed value does not parse");
		}
		config_format_value(copy, s, b, sizeof(b));
		if (strcmp(a, b) != 0) {
			fprintf(stderr, "setting %s: '%s' sets back as '%s'\n", s->name, a, b);
			FUZZ_CHECK(!"printed value changes when set back");
		}
	}
	config_unref(copy);
}

static void check_config(const config_t *cfg)
{
	FUZZ_CHECK(cfg->refcount == 1);
	for (size_t i = 0; i < cfg->ndbs; i++) {
		check_db(&cfg->dbs[i]);
		for (size_t j = 0; j < i; j++)
			FUZZ_CHECK(strcmp(cfg->dbs[i].name, cfg->dbs[j].name) != 0);
		FUZZ_CHECK(config_find_db(cfg, cfg->dbs[i].name) == &cfg->dbs[i]);
		FUZZ_CHECK(config_db_pool_size(cfg, &cfg->dbs[i]) >= 1);
		FUZZ_CHECK(config_db_min_pool_size(cfg, &cfg->dbs[i]) >= 0);
		FUZZ_CHECK(config_db_reserve_pool_size(cfg, &cfg->dbs[i]) >= 0);
		FUZZ_CHECK(config_db_max_connections(cfg, &cfg->dbs[i]) >= 0);
		FUZZ_CHECK(config_db_pool_mode(cfg, &cfg->dbs[i]) == POOL_MODE_SESSION ||
			   config_db_pool_mode(cfg, &cfg->dbs[i]) == POOL_MODE_TRANSACTION);
	}
	check_users(cfg);
	check_settings(cfg);
	config_list_contains(cfg->admin_users, "admin");
	config_list_contains(cfg->stats_users, "stats");
}

static config_t *load(const char *text, size_t errlen)
{
	char *err = err_buf(errlen);
	config_t *cfg = config_load_string(text, "fuzz.ini", err, errlen);

	check_err(err, errlen);
	if (cfg)
		check_config(cfg);
	else if (errlen >= ERRLEN)
		FUZZ_CHECK(strncmp(err, "fuzz.ini", 8) == 0);
	free(err);
	return cfg;
}

static void fuzz_connstr(const char *text, size_t errlen)
{
	char *err = err_buf(errlen);
	db_config_t db;

	if (config_parse_db_connstr("fuzzdb", text, &db, err, errlen)) {
		FUZZ_CHECK(strcmp(db.name, "fuzzdb") == 0);
		check_db(&db);
		config_db_clear(&db);
	} else {
		check_err(err, errlen);
		FUZZ_CHECK(db.name == NULL && db.host == NULL && db.password == NULL);
	}
	free(err);
}

/* Applies url to cfg; a failure must change nothing. */
static void apply_url(config_t *cfg, const char *url, size_t errlen)
{
	char *err = err_buf(errlen);
	size_t ndbs = cfg->ndbs, nusers = cfg->nusers;
	const char *source = cfg->source;

	if (config_apply_database_url(cfg, url, err, errlen)) {
		FUZZ_CHECK(cfg->source != NULL);
		FUZZ_CHECK(config_find_db(cfg, "\x01no such db") != NULL); /* the "*" fallback */
		check_config(cfg);
	} else {
		check_err(err, errlen);
		if (errlen >= ERRLEN)
			FUZZ_CHECK(strncmp(err, "DATABASE_URL: ", 14) == 0);
		FUZZ_CHECK(cfg->ndbs == ndbs && cfg->nusers == nusers && cfg->source == source);
	}
	free(err);
}

static void fuzz_set(const char *name, const char *value, size_t errlen)
{
	config_t *cfg = config_new_defaults();
	char *err = err_buf(errlen);

	if (config_set(cfg, name, value, err, errlen))
		check_config(cfg);
	else
		check_err(err, errlen);
	free(err);
	config_unref(cfg);
}

static void fuzz_auth_file(const uint8_t *text, size_t len, size_t errlen)
{
	static int fd = -1;
	static char path[64];
	config_t *cfg;
	char *err;
	bool ok;

	if (fd < 0) {
		fd = memfd_create("pgtide-fuzz-userlist", 0);
		FUZZ_CHECK(fd >= 0);
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	FUZZ_CHECK(ftruncate(fd, 0) == 0);
	FUZZ_CHECK(len == 0 || pwrite(fd, text, len, 0) == (ssize_t)len);

	/* A user already known, so a failed load can be seen to keep it. */
	cfg = config_new_defaults();
	err = err_buf(errlen);
	FUZZ_CHECK(config_apply_database_url(cfg, "postgres://keep:pw@h/db", err, errlen));
	ok = config_load_auth_file(cfg, path, err, errlen);
	check_err(err, errlen);
	if (ok) {
		check_users(cfg);
	} else {
		FUZZ_CHECK(cfg->nusers == 1 && strcmp(cfg->users[0].name, "keep") == 0);
		FUZZ_CHECK(strcmp(cfg->users[0].secret, "pw") == 0);
	}
	free(err);
	config_unref(cfg);
}

static char *prefixed(const char *prefix, const uint8_t *data, size_t size)
{
	size_t n = strlen(prefix);
	char *s = malloc(n + size + 1);

	if (!s)
		abort();
	memcpy(s, prefix, n);
	if (size)
		memcpy(s + n, data, size);
	s[n + size] = '\0';
	return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t errlen, a_len, b_len;
	const uint8_t *b;
	char *text, *second;
	config_t *cfg;
	int mode;

	if (size < 1)
		return 0;
	mode = data[0] & 7;
	errlen = (data[0] & 0x80) ? SMALL_ERRLEN : ERRLEN;
	data++;
	size--;
	switch (mode) {
	case 0:
	case 6:
	case 7:
		text = prefixed(mode == 6 ? "[pgtide]\n" : mode == 7 ? "[databases]\n" : "", data,
				size);
		config_unref(load(text, errlen));
		free(text);
		break;
	case 1:
		text = fuzz_dup_str(data, size);
		fuzz_connstr(text, errlen);
		free(text);
		break;
	case 2:
		text = fuzz_dup_str(data, size);
		cfg = config_new_defaults();
		apply_url(cfg, text, errlen);
		config_unref(cfg);
		free(text);
		break;
	case 3:
	case 4:
		fuzz_split_nul(data, size, &a_len, &b, &b_len);
		text = fuzz_dup_str(data, a_len);
		second = fuzz_dup_str(b ? b : data, b_len);
		if (mode == 4) {
			fuzz_set(text, second, errlen);
		} else if ((cfg = load(text, errlen)) != NULL) {
			apply_url(cfg, second, errlen);
			config_unref(cfg);
		}
		free(text);
		free(second);
		break;
	default:
		fuzz_auth_file(data, size, errlen);
		break;
	}
	return 0;
}
