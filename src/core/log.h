/* log.h - the one logging call every berth program uses.
 *
 * Lines go to stderr as "2026-11-23T19:21:00.123Z level component: message".
 * Never pass a secret (password, token, key, env value) to these calls.
 */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns 0 or -1. */
int log_parse_level(const char *name, enum log_level *out);
int log_enabled(enum log_level level);
void log_msg(enum log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug(c, ...) do { if (log_enabled(LOG_DEBUG)) log_msg(LOG_DEBUG, c, __VA_ARGS__); } while (0)
#define log_info(c, ...)  log_msg(LOG_INFO, c, __VA_ARGS__)
#define log_warn(c, ...)  log_msg(LOG_WARN, c, __VA_ARGS__)
#define log_error(c, ...) log_msg(LOG_ERROR, c, __VA_ARGS__)

#endif
