// A kernel that reaches up into the harness: both the include and the link are forbidden.
#include "harness/sampler.h"
int kernel() { return sample(); }
