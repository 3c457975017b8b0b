// options.h: the core's side of raid_options.h (the option lists): their
// metadata, defaults and range checks, and the range checks the core's other
// validators share.
#ifndef RAID_CORE_OPTIONS_H
#define RAID_CORE_OPTIONS_H

#include <cstdint>

#include "raid_options.h"

namespace raid {

// The options of a group, in declaration order; *n receives their count.
const raid_option_info* OptionInfos(raid_option_group group, int* n);

// Sets every option of the group (a raid_<group>_options) to its default.
void SetOptionDefaults(raid_option_group group, void* options);

// Throws InvalidArgument naming the first option of the group outside its
// declared range, e.g. option "dim" must be between 1 and 1024, got 0.
void ValidateOptions(raid_option_group group, const void* options);

// Throws InvalidArgument unless lo <= value <= hi:
// option "NAME" must be between LO and HI, got VALUE ("at least LO" when HI
// is INT64_MAX).
void CheckRange(const char* name, int64_t value, int64_t lo, int64_t hi);

// Throws InvalidArgument unless lo <= value <= hi, or lo < value <= hi with
// min_exclusive (NaN fails).
void CheckRange(const char* name, double value, double lo, double hi, bool min_exclusive = false);

}  // namespace raid

#endif  // RAID_CORE_OPTIONS_H
