#include "storage/sql/statements.h"

#include <array>

namespace webhookd::sql {

std::string_view statementName(Q q)
{
    static constexpr std::array<std::string_view, kStatementCount> names = {
#define WEBHOOKD_STATEMENT_NAME(name) #name,
        WEBHOOKD_STATEMENTS(WEBHOOKD_STATEMENT_NAME)
#undef WEBHOOKD_STATEMENT_NAME
    };
    return names[static_cast<size_t>(q)];
}

} // namespace webhookd::sql
