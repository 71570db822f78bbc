/* edge_parse.h - reading HAProxy's runtime API answers (edge.c sends the
 * commands). Pure functions over the answer text, no I/O, so the fuzz
 * drivers and unit tests call them directly. */
#ifndef BERTH_RUNNER_EDGE_PARSE_H
#define BERTH_RUNNER_EDGE_PARSE_H

/* Current plus queued sessions (scur + qcur) of server srv in a
 * `show stat <backend> 4 -1` answer (CSV with a "# " header line), at
 * most INT_MAX, or -1 when the answer has no such columns, no such server,
 * or a count that is not a number. */
int edge_parse_stat_sessions(const char *text, const char *srv);

/* The master's line of a master-socket `show proc` answer
 * ("<pid> master <reloads> [failed: <n>] ..."): 0 with its reload and
 * failed-reload counts, or -1 when there is none. */
int edge_parse_master_line(const char *text, int *reloads, int *failed);

#endif
