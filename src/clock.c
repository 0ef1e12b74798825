/*
 * clock.c - time sources.
 */
#include "clock.h"

#include <stdio.h>
#include <time.h>

static usec_t timespec_usec(const struct timespec *ts)
{
	return (usec_t)ts->tv_sec * USEC_PER_SEC + ts->tv_nsec / 1000;
}

usec_t clock_mono_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return timespec_usec(&ts);
}

usec_t clock_wall_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return timespec_usec(&ts);
}

void clock_format_wall(usec_t wall, char *buf, size_t cap)
{
	time_t secs = (time_t)(wall / USEC_PER_SEC);
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm);
}
