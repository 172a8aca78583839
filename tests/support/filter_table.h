#pragma once

// DESIGN.md's payload-filter semantics as one table of filter × payload ×
// verdict. tests/routing_test.cpp runs it through PayloadFilter;
// tests/storage_test.cpp runs it through fan-out on both backends (a target
// per filter, an event per payload), so SQLite and PostgreSQL agree with it.

#include <vector>

namespace webhookd::test {

struct FilterCase {
    const char* filter;
    const char* payload;
    bool matches;
};

inline const std::vector<FilterCase>& filterTable()
{
    static const std::vector<FilterCase> table = {
        // eq: strict types; numbers by value however written
        {R"({"path":"$.amount","op":"eq","value":100})", R"({"amount":100})", true},
        {R"({"path":"$.amount","op":"eq","value":100})", R"({"amount":100.0})", true},
        {R"({"path":"$.amount","op":"eq","value":100})", R"({"amount":1e2})", true},
        {R"({"path":"$.amount","op":"eq","value":100})", R"({"amount":"100"})", false},
        {R"({"path":"$.amount","op":"eq","value":100})", R"({"amount":100.5})", false},
        {R"({"path":"$.big","op":"eq","value":9007199254740993})", R"({"big":9007199254740993})", true},
        {R"({"path":"$.big","op":"eq","value":9007199254740993})", R"({"big":9007199254740992})", false},
        {R"({"path":"$.big","op":"gt","value":9007199254740992})", R"({"big":9007199254740993})", true},
        {R"({"path":"$.neg","op":"lt","value":0})", R"({"neg":-18446744073})", true},
        {R"({"path":"$.ok","op":"eq","value":true})", R"({"ok":true})", true},
        {R"({"path":"$.ok","op":"eq","value":true})", R"({"ok":1})", false},
        {R"({"path":"$.n","op":"eq","value":null})", R"({"n":null})", true},
        {R"({"path":"$.n","op":"eq","value":null})", R"({})", false},
        {R"({"path":"$.o","op":"eq","value":{"a":[1,2]}})", R"({"o":{"a":[1.0,2e0]}})", true},
        {R"({"path":"$.o","op":"eq","value":{"a":[1,2]}})", R"({"o":{"a":[2,1]}})", false},
        {R"({"path":"$.s","op":"eq","value":"Gold"})", R"({"s":"gold"})", false},
        // ne and nin are true for a missing path; the rest false
        {R"({"path":"$.s","op":"ne","value":"x"})", R"({})", true},
        {R"({"path":"$.s","op":"ne","value":"x"})", R"({"s":"x"})", false},
        {R"({"path":"$.s","op":"ne","value":"1"})", R"({"s":1})", true},
        {R"({"path":"$.s","op":"nin","value":["a","b"]})", R"({})", true},
        {R"({"path":"$.s","op":"nin","value":["a","b"]})", R"({"s":"b"})", false},
        {R"({"path":"$.s","op":"in","value":["a","b"]})", R"({"s":"b"})", true},
        {R"({"path":"$.s","op":"in","value":["a","b"]})", R"({})", false},
        {R"({"path":"$.n","op":"in","value":[1,2]})", R"({"n":2.0})", true},
        {R"({"path":"$.s","op":"gt","value":"a"})", R"({})", false},
        {R"({"path":"$.s","op":"prefix","value":"a"})", R"({})", false},
        {R"({"path":"$.s","op":"contains","value":"a"})", R"({})", false},
        // exists: null is present
        {R"({"path":"$.n","op":"exists","value":true})", R"({"n":null})", true},
        {R"({"path":"$.n","op":"exists","value":true})", R"({})", false},
        {R"({"path":"$.n","op":"exists","value":false})", R"({})", true},
        {R"({"path":"$.n","op":"exists","value":false})", R"({"n":0})", false},
        // gt gte lt lte: both numbers or both strings, else false
        {R"({"path":"$.amount","op":"gte","value":10000})", R"({"amount":10000})", true},
        {R"({"path":"$.amount","op":"gte","value":10000})", R"({"amount":9999.99})", false},
        {R"({"path":"$.amount","op":"gt","value":10000})", R"({"amount":"20000"})", false},
        {R"({"path":"$.amount","op":"lt","value":1})", R"({"amount":null})", false},
        {R"({"path":"$.amount","op":"lte","value":1})", R"({"amount":true})", false},
        {R"({"path":"$.v","op":"lt","value":"b"})", R"({"v":"a"})", true},
        {R"({"path":"$.v","op":"lt","value":"b"})", R"({"v":"B"})", true},
        {R"({"path":"$.v","op":"gt","value":"z"})", R"({"v":"é"})", true},
        // contains: an array element eq V, or a substring
        {R"({"path":"$.tags","op":"contains","value":"vip"})", R"({"tags":["a","vip"]})", true},
        {R"({"path":"$.tags","op":"contains","value":"vip"})", R"({"tags":["vipx"]})", false},
        {R"({"path":"$.tags","op":"contains","value":3})", R"({"tags":[1,3.0]})", true},
        {R"({"path":"$.note","op":"contains","value":"urgent"})", R"({"note":"very urgent!"})", true},
        {R"({"path":"$.note","op":"contains","value":"Urgent"})", R"({"note":"very urgent!"})", false},
        {R"({"path":"$.note","op":"contains","value":1})", R"({"note":"1"})", false},
        // prefix: strings only
        {R"({"path":"$.sku","op":"prefix","value":"EU-"})", R"({"sku":"EU-42"})", true},
        {R"({"path":"$.sku","op":"prefix","value":"EU-"})", R"({"sku":"US-42"})", false},
        {R"({"path":"$.sku","op":"prefix","value":"1"})", R"({"sku":12})", false},
        // paths: names, quoted keys, indexes, the root
        {R"({"path":"$.a.b[1].c","op":"eq","value":5})", R"({"a":{"b":[{"c":4},{"c":5}]}})", true},
        {R"({"path":"$.a.b[2].c","op":"exists","value":true})", R"({"a":{"b":[{"c":4},{"c":5}]}})", false},
        {R"({"path":"$[\"unit price\"]","op":"eq","value":3})", R"({"unit price":3})", true},
        {R"({"path":"$[\"a.b\"]","op":"eq","value":1})", R"({"a":{"b":1}})", false},
        {R"({"path":"$[0]","op":"eq","value":"x"})", R"(["x","y"])", true},
        {R"({"path":"$.a[0]","op":"exists","value":true})", R"({"a":{"0":1}})", false},
        {R"({"path":"$","op":"exists","value":true})", R"(null)", true},
        {R"({"path":"$.a.b","op":"ne","value":1})", R"({"a":"text"})", true},
        // all, any, not
        {R"({"all":[]})", R"({})", true},
        {R"({"any":[]})", R"({})", false},
        {R"({"not":{"any":[]}})", R"({})", true},
        {R"({"all":[{"path":"$.a","op":"eq","value":1},{"path":"$.b","op":"eq","value":2}]})", R"({"a":1,"b":2})",
         true},
        {R"({"all":[{"path":"$.a","op":"eq","value":1},{"path":"$.b","op":"eq","value":2}]})", R"({"a":1,"b":3})",
         false},
        {R"({"any":[{"path":"$.a","op":"eq","value":1},{"path":"$.b","op":"eq","value":2}]})", R"({"a":0,"b":2})",
         true},
        {R"({"not":{"path":"$.s","op":"eq","value":"x"}})", R"({})", true},
        {R"({"not":{"path":"$.s","op":"exists","value":false}})", R"({})", false},
        {R"({"not":{"path":"$.amount","op":"gt","value":5}})", R"({"amount":"9"})", true},
    };
    return table;
}

} // namespace webhookd::test
