/*
 * hba.h - auth_hba_file: PostgreSQL's pg_hba.conf syntax, parsed into rules
 * and matched against a connection. Pure functions: parsing takes text
 * (hba_load_file reads the file, nothing else), matching takes a request.
 *
 * Supported: line kinds local, host, hostssl, hostnossl; databases all,
 * sameuser, replication (never matches: pgtide refuses replication), names
 * and comma lists; users all, names and comma lists; addresses all, CIDR
 * (IPv4/IPv6) or address + mask; methods trust, reject, md5, scram-sha-256,
 * password, cert; the option clientcert=verify-ca|verify-full on hostssl
 * lines. Everything else (@file, +group, samerole, samehost, samenet, host
 * names, peer, ident, ldap, ...) is refused with an error naming the line,
 * so a file never means less than it says.
 */
#ifndef PGTIDE_HBA_H
#define PGTIDE_HBA_H

#include <netinet/in.h>

#include "common.h"

typedef enum {
	HBA_TRUST = 0,
	HBA_REJECT,
	HBA_MD5,      /* md5, or SCRAM when the stored secret is SCRAM (as PostgreSQL) */
	HBA_SCRAM,
	HBA_PASSWORD, /* cleartext */
	HBA_CERT,     /* verified client certificate whose common name is the user */
} hba_method_t;

typedef enum { HBA_LOCAL = 0, HBA_HOST, HBA_HOSTSSL, HBA_HOSTNOSSL } hba_conn_t;

typedef enum { HBA_CLIENTCERT_NONE = 0, HBA_CLIENTCERT_VERIFY_CA, HBA_CLIENTCERT_VERIFY_FULL } hba_clientcert_t;

typedef struct hba_rule {
	int line;               /* in the file, for logs */
	hba_conn_t conn;
	char **dbs;             /* names; see HBA_KW_* for keywords */
	size_t ndbs;
	char **users;
	size_t nusers;
	bool any_addr;          /* "all" (or a local line) */
	bool v4;                /* the address family of addr/mask */
	uint8_t addr[16];
	uint8_t mask[16];
	hba_method_t method;
	hba_clientcert_t clientcert;
} hba_rule_t;

typedef struct hba {
	int refcount;           /* atomic: configs sharing the rules */
	hba_rule_t *rules;
	size_t nrules;
} hba_t;

/* One connection asking to log in. */
typedef struct hba_request {
	bool is_unix;
	bool tls;
	bool v4;                /* addr holds 4 bytes (IPv4 or v4-mapped) */
	uint8_t addr[16];
	const char *db;
	const char *user;
} hba_request_t;

/* Parses pg_hba.conf text; name is used in errors ("NAME:LINE: reason").
 * Returns NULL with err set on any error. */
hba_t *hba_parse(const char *text, const char *name, char *err, size_t errlen);
/* Reads and parses a file. */
hba_t *hba_load_file(const char *path, char *err, size_t errlen);
hba_t *hba_ref(hba_t *h);
void hba_unref(hba_t *h);

/* Fills the address part of r from a peer address (v4-mapped IPv6 counts as
 * IPv4, as PostgreSQL sees it). */
void hba_request_set_addr(hba_request_t *r, const struct sockaddr_in6 *sa);
/* The first rule that matches, or NULL (the connection is rejected). */
const hba_rule_t *hba_match(const hba_t *h, const hba_request_t *r);
const char *hba_method_name(hba_method_t m);

#endif
