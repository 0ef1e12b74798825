/*
 * log.h - one line per event, "time level message key=value ...", written
 * with a single write() so lines from different threads never interleave.
 * The sink (stderr or a file) and the level are process-wide and set only by
 * main at start and reload (log_configure); everything else just calls log_*.
 */
#ifndef PGTIDE_LOG_H
#define PGTIDE_LOG_H

#include "common.h"

typedef enum { LOG_LEVEL_ERROR = 0, LOG_LEVEL_WARNING, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG, LOG_LEVEL_NOISE } log_level_t;

/* verbose: -1 = errors only, 0 = info, 1 = debug, 2+ = noise. logfile NULL or "" = stderr.
 * json: one JSON object per line instead of text. Returns false when the
 * file cannot be opened (the old sink stays). */
bool log_configure(int verbose, const char *logfile, bool json);
void log_close(void);
bool log_enabled(log_level_t level);
void log_msg(log_level_t level, const char *fmt, ...) PRINTF_LIKE(2, 3);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { \
		if (log_enabled(LOG_LEVEL_DEBUG)) \
			log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__); \
	} while (0)
#define log_noise(...) \
	do { \
		if (log_enabled(LOG_LEVEL_NOISE)) \
			log_msg(LOG_LEVEL_NOISE, __VA_ARGS__); \
	} while (0)

#endif
