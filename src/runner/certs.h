/* certs.h - uploaded TLS certificates on the host: the "certs" berthd adds
 * to "deploy" and "edge" job frames, written as one PEM file per app
 * domain (chain, then key) under state_dir/certs/a<app id>/, 0600,
 * atomically, for the edge to load (docs/deploy.md#certificates). Owns
 * nothing in memory.
 */
#ifndef RUNNER_CERTS_H
#define RUNNER_CERTS_H

#include <jansson.h>
#include <stddef.h>

struct runner;

/* Writes every certificate in spec's "certs" for each of its domains
 * into the directory of spec's "app_id", removes every other file there
 * (a domain the app no longer has, a certificate removed, the app
 * deleted), then wipes the keys and drops "certs" from spec (always,
 * also on failure). 0, or -1 when "certs" breaks a rule or a file cannot
 * be written (logged, never with a byte of a key). */
int certs_apply(struct runner *r, json_t *spec);

/* The PEM file (chain + key) for app app_id's domain into out: 0 when
 * one is there, -1 when none or domain is not a host name. For the
 * edge's `set ssl cert`. */
int certs_path(const struct runner *r, const char *app_id, const char *domain, char *out,
               size_t n);

#endif
