#pragma once

// The textual forms of target settings on the command line:
// "NAME:VALUE" headers, comma-separated event-type patterns, KEY=VALUE
// metadata. Shared by webhookctl and any other front end.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"
#include "model/target.h"

namespace webhookd {

// "Name: value" (spaces after the colon dropped). Invalid without a colon;
// the message does not quote the text, which may hold a credential.
Result<std::pair<std::string, std::string>> parseHeaderSpec(std::string_view spec);
Result<HeaderList> parseHeaderSpecs(const std::vector<std::string>& specs);

// "a.*,b" -> {"a.*", "b"}; empty items are dropped, "" gives none.
std::vector<std::string> parsePatternList(std::string_view list);

// KEY=VALUE pairs; Invalid for one without '='.
Result<std::map<std::string, std::string>> parseMetadata(const std::vector<std::string>& pairs);

} // namespace webhookd
