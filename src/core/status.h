#pragma once
// The Status / Result types live in the public API.
#include "strata/status.h"
