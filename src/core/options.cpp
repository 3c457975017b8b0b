// options.cpp: metadata, defaults and range checks of the option lists.
#include "options.h"

#include <cmath>
#include <string>

#include "common.h"

namespace raid {

namespace {

#define RAID_OPTION_INFO_(name, type, def, lo, hi, flags, doc) \
    {#name, RAID_OPTION_##type, static_cast<double>(lo), static_cast<double>(hi), flags, \
     offsetof(Struct, name), doc},
#define RAID_OPTION_TABLE_(upper, lower, list)                  \
    struct lower##_table {                                      \
        using Struct = raid_##lower##_options;                  \
        static constexpr raid_option_info infos[] = {list(RAID_OPTION_INFO_)}; \
    };
RAID_OPTION_GROUPS(RAID_OPTION_TABLE_)
#undef RAID_OPTION_TABLE_
#undef RAID_OPTION_INFO_

#define RAID_OPTION_DEFAULT_(name, type, def, lo, hi, flags, doc) \
    o->name = static_cast<RAID_OPTION_CTYPE_##type>(def);
#define RAID_OPTION_SET_DEFAULTS_(upper, lower, list)  \
    void Defaults(raid_##lower##_options* o) { list(RAID_OPTION_DEFAULT_) }
RAID_OPTION_GROUPS(RAID_OPTION_SET_DEFAULTS_)
#undef RAID_OPTION_SET_DEFAULTS_
#undef RAID_OPTION_DEFAULT_

// Formats an integer range bound (the largest seed prints exactly).
std::string IntBound(double x) {
    if (x >= RAID_MAX_SEED) return std::to_string(INT64_MAX);
    return std::to_string(static_cast<int64_t>(x));
}

}  // namespace

const raid_option_info* OptionInfos(raid_option_group group, int* n) {
    switch (group) {
#define RAID_OPTION_CASE_(upper, lower, list)                                                \
    case RAID_OPTION_GROUP_##upper:                                                          \
        *n = static_cast<int>(sizeof(lower##_table::infos) / sizeof(lower##_table::infos[0])); \
        return lower##_table::infos;
        RAID_OPTION_GROUPS(RAID_OPTION_CASE_)
#undef RAID_OPTION_CASE_
        default:
            throw InvalidArgument("unknown option group " + std::to_string(static_cast<int>(group)));
    }
}

void SetOptionDefaults(raid_option_group group, void* options) {
    switch (group) {
#define RAID_OPTION_CASE_(upper, lower, list) \
    case RAID_OPTION_GROUP_##upper:           \
        Defaults(static_cast<raid_##lower##_options*>(options)); \
        return;
        RAID_OPTION_GROUPS(RAID_OPTION_CASE_)
#undef RAID_OPTION_CASE_
        default:
            throw InvalidArgument("unknown option group " + std::to_string(static_cast<int>(group)));
    }
}

void CheckRange(const char* name, int64_t value, int64_t lo, int64_t hi) {
    if (value >= lo && value <= hi) return;
    throw InvalidArgument(std::string("option \"") + name + "\" must be " +
                          (hi == INT64_MAX ? "at least " + std::to_string(lo)
                                           : "between " + std::to_string(lo) + " and " +
                                                 std::to_string(hi)) +
                          ", got " + std::to_string(value));
}

void CheckRange(const char* name, double value, double lo, double hi, bool min_exclusive) {
    if (min_exclusive ? (value > lo && value <= hi) : (value >= lo && value <= hi)) return;
    throw InvalidArgument(std::string("option \"") + name + "\" must be " +
                          (min_exclusive ? "greater than " + FormatDouble(lo) + " and at most "
                                         : "between " + FormatDouble(lo) + " and ") +
                          FormatDouble(hi) + ", got " + FormatDouble(value));
}

void ValidateOptions(raid_option_group group, const void* options) {
    int n = 0;
    const raid_option_info* infos = OptionInfos(group, &n);
    for (int i = 0; i < n; ++i) {
        const raid_option_info& o = infos[i];
        const char* field = static_cast<const char*>(options) + o.offset;
        int64_t value = 0;
        switch (o.type) {
            case RAID_OPTION_DOUBLE:
                CheckRange(o.name, *reinterpret_cast<const double*>(field), o.min, o.max,
                           (o.flags & RAID_OPTION_MIN_EXCLUSIVE) != 0);
                continue;
            case RAID_OPTION_UINT64: {
                const uint64_t u = *reinterpret_cast<const uint64_t*>(field);
                const uint64_t hi = o.max >= RAID_MAX_SEED ? uint64_t{INT64_MAX} : static_cast<uint64_t>(o.max);
                if (u > hi)
                    throw InvalidArgument(std::string("option \"") + o.name + "\" must be at most " +
                                          IntBound(o.max) + ", got " + std::to_string(u));
                continue;
            }
            case RAID_OPTION_INT64:
                value = *reinterpret_cast<const int64_t*>(field);
                break;
            default:  // INT32, BOOL, ATTACKERS
                value = *reinterpret_cast<const int32_t*>(field);
                break;
        }
        if (value == 0 && (o.flags & RAID_OPTION_ZERO_OK)) continue;
        const int64_t lo = static_cast<int64_t>(o.min) + ((o.flags & RAID_OPTION_MIN_EXCLUSIVE) ? 1 : 0);
        const int64_t hi = o.max >= RAID_MAX_SEED ? INT64_MAX : static_cast<int64_t>(o.max);
        if (value >= lo && value <= hi) continue;
        if (o.flags & RAID_OPTION_ZERO_OK)
            throw InvalidArgument(std::string("option \"") + o.name + "\" must be 0 or between " +
                                  std::to_string(lo) + " and " + std::to_string(hi) + ", got " +
                                  std::to_string(value));
        CheckRange(o.name, value, lo, hi);
    }
}

}  // namespace raid
