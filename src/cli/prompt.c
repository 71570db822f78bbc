/* prompt.c - reading secrets and confirmations without putting them in
 * argv: environment variable first, then the terminal (echo off for
 * secrets), then a line of piped stdin. Prompts go to stderr so stdout
 * stays one JSON document under --json. */
#include "cli.h"
#include "crypto.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static int read_line(int tty, int secret, char *out, size_t n)
{
    struct termios old, quiet;
    int hidden = tty && secret && tcgetattr(0, &old) == 0;
    if (hidden) {
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(0, TCSAFLUSH, &quiet);
    }
    char *got = fgets(out, (int)n, stdin);
    if (hidden) {
        tcsetattr(0, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!got)
        return -1;
    size_t l = strcspn(out, "\r\n");
    if (out[l] == '\0' && l + 1 == n) { /* longer than the buffer */
        crypto_wipe(out, n);
        return -1;
    }
    out[l] = '\0';
    return 0;
}

int prompt_line(const char *env, const char *label, int secret, char *out, size_t n)
{
    const char *v = env ? getenv(env) : NULL;
    if (v && *v)
        return util_strlcpy(out, v, n);
    int tty = isatty(0);
    if (tty) {
        fprintf(stderr, "%s: ", label);
        fflush(stderr);
    }
    return read_line(tty, secret, out, n);
}

int prompt_confirm(struct cli *c, const char *what)
{
    if (c->yes)
        return 0;
    if (!isatty(0))
        return cli_usage(c, "will not %s without confirmation (stdin is not a terminal): "
                         "pass --yes", what);
    char ans[16];
    fprintf(stderr, "Really %s? [y/N] ", what);
    fflush(stderr);
    if (read_line(1, 0, ans, sizeof ans) < 0 || (strcmp(ans, "y") != 0 && strcmp(ans, "yes") != 0))
        return cli_fail(c, CLI_EXIT_OTHER, "cancelled", "cancelled; nothing was changed");
    return 0;
}
