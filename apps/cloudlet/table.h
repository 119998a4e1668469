// Plain-text tables for the CLI: columns padded to their widest cell.
#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace cloudlet::cli {

void PrintTable(std::ostream& out, const std::vector<std::string>& header,
                const std::vector<std::vector<std::string>>& rows);

}  // namespace cloudlet::cli
