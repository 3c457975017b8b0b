// The option tables of docs/reference.md are generated from the option lists
// (src/core/raid_options.h): this test renders them and fails when the file
// differs.  `make reference` (RAID_UPDATE_REFERENCE=1) rewrites them.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "capi/raid_capi.h"

namespace {

const char* const kReference = RAID_SOURCE_ROOT "/docs/reference.md";

// A number as the reference prints it: integers in full, else %g with a
// two-digit exponent trimmed (1e-6, not 1e-06).
std::string Number(double x) {
    if (x == std::floor(x) && std::fabs(x) < 1e15) return std::to_string(static_cast<int64_t>(x));
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%g", x);
    std::string s(buf);
    const size_t e = s.find("e-0");
    if (e != std::string::npos) s.erase(e + 2, 1);
    return s;
}

std::string IntBound(double x) {
    return x >= RAID_MAX_SEED ? std::to_string(INT64_MAX) : Number(x);
}

std::string AttackerNames(int32_t mask, bool quoted_list) {
    struct Name {
        int32_t kind;
        const char* name;
    };
    static const Name names[] = {
#define NAME_(kind, name) {kind, name},
        RAID_ATTACKER_LIST(NAME_)
#undef NAME_
    };
    std::string s;
    for (const Name& n : names) {
        if (!(mask & n.kind)) continue;
        if (!s.empty()) s += ", ";
        s += quoted_list ? std::string("\"") + n.name + "\"" : "`\"" + std::string(n.name) + "\"`";
    }
    return quoted_list ? "`[" + s + "]`" : s;
}

std::string Type(const raid_option_info& o) {
    switch (o.type) {
        case RAID_OPTION_DOUBLE:
            return "number";
        case RAID_OPTION_BOOL:
            return "boolean";
        case RAID_OPTION_ATTACKERS:
            return "array of strings";
        default:
            return "integer";
    }
}

std::string Default(const raid_option_info& o, const char* defaults) {
    const char* field = defaults + o.offset;
    switch (o.type) {
        case RAID_OPTION_INT32:
            return std::to_string(*reinterpret_cast<const int32_t*>(field));
        case RAID_OPTION_INT64:
            return std::to_string(*reinterpret_cast<const int64_t*>(field));
        case RAID_OPTION_UINT64:
            return std::to_string(*reinterpret_cast<const uint64_t*>(field));
        case RAID_OPTION_DOUBLE:
            return Number(*reinterpret_cast<const double*>(field));
        case RAID_OPTION_BOOL:
            return *reinterpret_cast<const int32_t*>(field) ? "true" : "false";
        case RAID_OPTION_ATTACKERS:
            return AttackerNames(*reinterpret_cast<const int32_t*>(field), true);
    }
    return "";
}

std::string Range(const raid_option_info& o) {
    switch (o.type) {
        case RAID_OPTION_BOOL:
            return "";
        case RAID_OPTION_ATTACKERS:
            return AttackerNames(RAID_ATTACKERS_EVERY, false);
        case RAID_OPTION_DOUBLE:
            if (o.flags & RAID_OPTION_MIN_EXCLUSIVE)
                return "> " + Number(o.min) + ", at most " + Number(o.max);
            return Number(o.min) + " to " + Number(o.max);
        default:
            return std::string(o.flags & RAID_OPTION_ZERO_OK ? "0, or " : "") + IntBound(o.min) +
                   " to " + IntBound(o.max);
    }
}

// The Markdown table of the SQL options of some groups.
std::string Table(const std::vector<raid_option_group>& groups) {
    std::string s = "| Option | Type | Default | Range | Meaning |\n|---|---|---|---|---|\n";
    for (raid_option_group g : groups) {
        int32_t n = 0;
        const raid_option_info* infos = raid_option_infos(g, &n);
        std::vector<char> defaults(4096);
        raid_error err;
        EXPECT_EQ(raid_options_default(g, defaults.data(), &err), RAID_OK) << err.message;
        for (int32_t i = 0; i < n; ++i) {
            const raid_option_info& o = infos[i];
            if (o.flags & RAID_OPTION_INTERNAL) continue;
            const std::string range = Range(o);
            s += "| `" + std::string(o.name) + "` | " + Type(o) + " | " + Default(o, defaults.data()) +
                 " | " + (range.empty() ? "" : range + " ") + "| " + o.meaning + " |\n";
        }
    }
    return s;
}

struct Block {
    const char* name;
    std::vector<raid_option_group> groups;
};

const std::vector<Block>& Blocks() {
    static const std::vector<Block> blocks = {
        {"train", {RAID_OPTION_GROUP_MF, RAID_OPTION_GROUP_TRAIN}},
        {"defense", {RAID_OPTION_GROUP_DEFENSE, RAID_OPTION_GROUP_TARGET}},
        {"dp", {RAID_OPTION_GROUP_DP}},
        {"unlearn", {RAID_OPTION_GROUP_UNLEARN}},
        {"adversarial", {RAID_OPTION_GROUP_ADVERSARIAL}},
        {"audit", {RAID_OPTION_GROUP_AUDIT, RAID_OPTION_GROUP_AUDIT_RUN}},
    };
    return blocks;
}

std::string Begin(const Block& b) { return std::string("<!-- generated: options ") + b.name + " -->\n"; }
std::string End(const Block& b) { return std::string("<!-- end: options ") + b.name + " -->\n"; }

std::string ReadFile(const char* path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

}  // namespace

TEST(Reference, OptionTablesMatchTheOptionLists) {
    std::string doc = ReadFile(kReference);
    ASSERT_FALSE(doc.empty()) << kReference << " is missing";
    const bool update = std::getenv("RAID_UPDATE_REFERENCE") != nullptr;
    for (const Block& b : Blocks()) {
        const size_t begin = doc.find(Begin(b));
        const size_t end = doc.find(End(b));
        ASSERT_NE(begin, std::string::npos) << "no " << Begin(b) << "in " << kReference;
        ASSERT_NE(end, std::string::npos) << "no " << End(b) << "in " << kReference;
        ASSERT_LT(begin, end);
        const size_t body = begin + Begin(b).size();
        const std::string expected = Table(b.groups);
        if (update) {
            doc.replace(body, end - body, expected);
        } else {
            EXPECT_EQ(doc.substr(body, end - body), expected)
                << "docs/reference.md's " << b.name << " options are out of date: run make reference";
        }
    }
    if (update) std::ofstream(kReference) << doc;
}

TEST(Reference, EveryOptionIsDocumentedAndInRange) {
    for (int g = 0; g < RAID_OPTION_GROUP_COUNT; ++g) {
        const auto group = static_cast<raid_option_group>(g);
        int32_t n = 0;
        const raid_option_info* infos = raid_option_infos(group, &n);
        ASSERT_NE(infos, nullptr);
        ASSERT_GT(n, 0);
        std::vector<char> defaults(4096);
        raid_error err;
        ASSERT_EQ(raid_options_default(group, defaults.data(), &err), RAID_OK) << err.message;
        // the defaults pass the declared ranges
        EXPECT_EQ(raid_options_validate(group, defaults.data(), &err), RAID_OK) << err.message;
        for (int32_t i = 0; i < n; ++i) {
            EXPECT_GT(std::string(infos[i].meaning).size(), 3u) << infos[i].name;
            EXPECT_LE(infos[i].min, infos[i].max) << infos[i].name;
            EXPECT_LT(infos[i].offset, 4096u) << infos[i].name;
        }
    }
    int32_t n = -1;
    EXPECT_EQ(raid_option_infos(static_cast<raid_option_group>(RAID_OPTION_GROUP_COUNT), &n), nullptr);
    EXPECT_EQ(n, 0);
}

TEST(Reference, ValidationFollowsTheDeclaredRanges) {
    raid_defense_options d;
    raid_error err;
    ASSERT_EQ(raid_options_default(RAID_OPTION_GROUP_DEFENSE, &d, &err), RAID_OK);
    d.sample = 0;  // RAID_OPTION_ZERO_OK
    EXPECT_EQ(raid_options_validate(RAID_OPTION_GROUP_DEFENSE, &d, &err), RAID_OK) << err.message;
    d.sample = 1;
    EXPECT_EQ(raid_options_validate(RAID_OPTION_GROUP_DEFENSE, &d, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"sample\" must be 0 or between 2 and 100000000, got 1");
    d.sample = 2;
    d.eta = 0.0;  // RAID_OPTION_MIN_EXCLUSIVE
    EXPECT_EQ(raid_options_validate(RAID_OPTION_GROUP_DEFENSE, &d, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"eta\" must be greater than 0 and at most 1e+06, got 0");

    raid_target_options t;
    ASSERT_EQ(raid_options_default(RAID_OPTION_GROUP_TARGET, &t, &err), RAID_OK);
    EXPECT_EQ(t.target_attackers, RAID_ATTACKER_LOGISTIC | RAID_ATTACKER_KNN | RAID_ATTACKER_QDA);
    t.adapt = 2;
    EXPECT_EQ(raid_options_validate(RAID_OPTION_GROUP_TARGET, &t, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message, "option \"adapt\" must be between 0 and 1, got 2");

    raid_mf_options m;
    ASSERT_EQ(raid_options_default(RAID_OPTION_GROUP_MF, &m, &err), RAID_OK);
    m.seed = uint64_t{1} << 63;
    EXPECT_EQ(raid_options_validate(RAID_OPTION_GROUP_MF, &m, &err), RAID_INVALID_ARGUMENT);
    EXPECT_STREQ(err.message,
                 "option \"seed\" must be at most 9223372036854775807, got 9223372036854775808");
}

// raid.synthetic takes its options as SQL arguments, whose DEFAULTs in
// src/sql/raid.sql must be the SYNTHETIC list's defaults.
TEST(Reference, SyntheticSqlDefaultsMatchTheOptionList) {
    const std::string sql = ReadFile(RAID_SOURCE_ROOT "/src/sql/raid.sql");
    const size_t begin = sql.find("CREATE FUNCTION raid.synthetic(");
    ASSERT_NE(begin, std::string::npos);
    const size_t end = sql.find("AS 'MODULE_PATHNAME'", begin);
    ASSERT_NE(end, std::string::npos);
    const std::string signature = sql.substr(begin, end - begin);

    int32_t n = 0;
    const raid_option_info* infos = raid_option_infos(RAID_OPTION_GROUP_SYNTHETIC, &n);
    std::vector<char> defaults(4096);
    raid_error err;
    ASSERT_EQ(raid_options_default(RAID_OPTION_GROUP_SYNTHETIC, defaults.data(), &err), RAID_OK);
    const char* const kinds[] = {"'mean'", "'covariance'", "'nonlinear'"};
    int checked = 0;
    for (int32_t i = 0; i < n; ++i) {
        const raid_option_info& o = infos[i];
        if (o.flags & RAID_OPTION_INTERNAL) continue;
        // "    name   type DEFAULT value," on one line of the signature
        const size_t at = signature.find("\n    " + std::string(o.name) + " ");
        ASSERT_NE(at, std::string::npos) << o.name << " is not an argument of raid.synthetic";
        const size_t line_end = signature.find('\n', at + 1);
        std::string line = signature.substr(at + 1, line_end - at - 1);
        const size_t def = line.find(" DEFAULT ");
        ASSERT_NE(def, std::string::npos) << o.name << " has no DEFAULT";
        std::string value = line.substr(def + 9);
        if (!value.empty() && value.back() == ',') value.pop_back();
        std::string expected = Default(o, defaults.data());
        if (std::string(o.name) == "signal_kind")
            expected = kinds[*reinterpret_cast<const int32_t*>(defaults.data() + o.offset)];
        else if (o.type == RAID_OPTION_DOUBLE)
            value = Number(std::stod(value));  // 1.0 and 1 are the same default
        EXPECT_EQ(value, expected) << "raid.synthetic's DEFAULT of " << o.name;
        ++checked;
    }
    EXPECT_EQ(checked, 7);
}
