/*
 * fuzz_check.h - what every fuzz target shares: FUZZ_CHECK (an invariant
 * that must hold for any input; a failure aborts, which libFuzzer reports
 * as a crash with the input saved) and a quiet logger.
 */
#ifndef MQ_FUZZ_CHECK_H
#define MQ_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define FUZZ_CHECK(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                       \
        }                                                                                  \
    } while (0)

/* err strings the code under test fills must be terminated and non-empty. */
#define FUZZ_CHECK_ERR(err) FUZZ_CHECK(memchr((err), '\0', sizeof(err)) != NULL && (err)[0] != '\0')

#endif
