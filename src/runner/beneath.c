/* beneath.c - paths a repository names, resolved inside its clone (see
 * beneath.h). Owns nothing beyond the descriptors it closes. */
#include "beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int beneath_no_openat2;

static int open_beneath(int rootfd, const char *rel)
{
#ifdef SYS_openat2
    if (!beneath_no_openat2) {
        struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                               .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
        long fd = syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return (int)fd;
    }
#endif
    /* No openat2 (or a seccomp filter refusing it): every component is
     * opened with O_NOFOLLOW, and a symbolic link anywhere is refused. */
    char buf[PATH_MAX];
    if (snprintf(buf, sizeof buf, "%s", rel) >= (int)sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    int cur = dup(rootfd);
    char *save = NULL;
    for (char *c = strtok_r(buf, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            close(cur);
            errno = EXDEV;
            return -1;
        }
        int next = openat(cur, c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        struct stat st;
        if (next >= 0 && fstat(next, &st) == 0 && S_ISLNK(st.st_mode)) {
            close(next);
            next = -1;
            errno = ELOOP;
        }
        int saved = errno;
        close(cur);
        errno = saved;
        cur = next;
    }
    return cur;
}

/* The path of an open descriptor, from /proc; -1 without /proc. */
static int fd_path(int fd, char *out, size_t n)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t l = readlink(link, out, n - 1);
    if (l <= 0 || (size_t)l >= n - 1)
        return -1;
    out[l] = '\0';
    return 0;
}

int beneath_resolve(const char *root, const char *rel, enum beneath_kind kind, char *out,
                    size_t outlen, char *err, size_t errlen)
{
    const char *what = kind == BENEATH_DIR ? "context" : "dockerfile";
    char rootp[PATH_MAX], got[PATH_MAX];
    struct stat st;
    int rc = -1, fd = -1;
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) {
        snprintf(err, errlen, "cannot open the clone: %s", strerror(errno));
        goto done;
    }
    fd = open_beneath(rootfd, rel);
    if (fd < 0) {
        if (errno == EXDEV || errno == ELOOP)
            snprintf(err, errlen, "%s \"%s\" is a symbolic link leaving the repository",
                     what, rel);
        else if (errno == ENOENT || errno == ENOTDIR)
            snprintf(err, errlen, "%s \"%s\" is not in the repository", what, rel);
        else
            snprintf(err, errlen, "%s \"%s\": %s", what, rel, strerror(errno));
        goto done;
    }
    if (fstat(fd, &st) < 0 || (kind == BENEATH_DIR ? !S_ISDIR(st.st_mode)
                                                   : !S_ISREG(st.st_mode))) {
        snprintf(err, errlen, "%s \"%s\" is not a %s", what, rel,
                 kind == BENEATH_DIR ? "directory" : "regular file");
        goto done;
    }
    /* The resolved path, every link already followed (inside the clone),
     * so docker follows none. Without /proc: the name as given (its links,
     * if any, were just checked to stay inside). */
    if (fd_path(rootfd, rootp, sizeof rootp) == 0 && fd_path(fd, got, sizeof got) == 0) {
        size_t rl = strlen(rootp);
        if (strncmp(got, rootp, rl) != 0 || (got[rl] != '/' && got[rl] != '\0')) {
            snprintf(err, errlen, "%s \"%s\" is a symbolic link leaving the repository", what,
                     rel);
            goto done;
        }
        if (snprintf(out, outlen, "%s", got) >= (int)outlen)
            goto toolong;
    } else if (snprintf(out, outlen, "%s/%s", root, rel) >= (int)outlen) {
        goto toolong;
    }
    rc = 0;
    goto done;
toolong:
    snprintf(err, errlen, "%s \"%s\": path too long", what, rel);
done:
    if (fd >= 0)
        close(fd);
    if (rootfd >= 0)
        close(rootfd);
    return rc;
}
