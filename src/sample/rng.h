/* rng.h — the sampler's private random number generator: xoshiro256**
 * seeded through splitmix64, so one 64-bit seed gives one fixed stream. */
#ifndef LORC_SAMPLE_RNG_H
#define LORC_SAMPLE_RNG_H

#include <stdint.h>

typedef struct lorc_rng {
    uint64_t s[4];
} lorc_rng;

/* Expands `seed` into the full state (never all zero). */
void lorc_rng_seed(lorc_rng *rng, uint64_t seed);
uint64_t lorc_rng_next(lorc_rng *rng);
/* Uniform double in [0, 1) with 53 random bits. */
double lorc_rng_uniform(lorc_rng *rng);
/* A seed from the operating system (getrandom), falling back to the clock. */
uint64_t lorc_rng_os_seed(void);

#endif
