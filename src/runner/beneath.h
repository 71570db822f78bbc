/* beneath.h - resolving a path a repository names (its Dockerfile, its
 * build context) without leaving the clone: symbolic links are followed
 * only while they stay beneath the clone's root (openat2 RESOLVE_BENEATH
 * | RESOLVE_NO_MAGICLINKS), or, on a kernel without openat2, not at all
 * (a component-by-component O_NOFOLLOW walk). No I/O beyond the lookups. */
#ifndef RUNNER_BENEATH_H
#define RUNNER_BENEATH_H

#include <stddef.h>

enum beneath_kind { BENEATH_FILE, BENEATH_DIR };

/* Resolves rel (relative, no "..") beneath root and checks it is a
 * regular file or a directory. out gets an absolute path with no symbolic
 * link in it, inside root. 0, or -1 with a one-line reason in err (naming
 * rel, never what a link points to). */
int beneath_resolve(const char *root, const char *rel, enum beneath_kind kind, char *out,
                    size_t outlen, char *err, size_t errlen);

/* Tests: 1 forces the O_NOFOLLOW walk (as without openat2). */
extern int beneath_no_openat2;

#endif
