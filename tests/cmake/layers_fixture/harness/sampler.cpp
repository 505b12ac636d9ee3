#include "harness/sampler.h"
int sample() { return 1; }
