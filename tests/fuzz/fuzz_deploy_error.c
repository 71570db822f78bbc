/* fuzz_deploy_error.c - deploy_parse_error, berthd's reading of the error
 * text a runner sends in job.done ("STEP: REASON; rolled back to
 * deployment N"), with every output size from 1 byte up. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "deploy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t stepn = 1 + data[0] % 64, reasonn = 1 + (size_t)data[1] * 8;
    char *s = malloc(size - 1);
    memcpy(s, data + 2, size - 2);
    s[size - 2] = '\0';
    char *step = malloc(stepn), *reason = malloc(reasonn);
    int64_t back = -1;
    deploy_parse_error(s, step, stepn, reason, reasonn, &back);
    assert(strlen(step) < stepn && strlen(reason) < reasonn && back >= 0);
    deploy_parse_error(NULL, step, stepn, reason, reasonn, &back);
    assert(!reason[0] && back == 0);
    free(step);
    free(reason);
    free(s);
    return 0;
}
