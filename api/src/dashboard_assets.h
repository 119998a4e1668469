// The dashboard's files (api/ui/), compiled in so that cloudletd serves them with nothing to install.
#pragma once

namespace cloudlet::api::ui {

extern const char kIndexHtml[];
extern const char kAppJs[];
extern const char kStyleCss[];

}  // namespace cloudlet::api::ui
