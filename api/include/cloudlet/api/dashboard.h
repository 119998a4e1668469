// The operator dashboard at /ui/: fleet, placements, and usage and cost per tenant over time, drawn
// in the browser from the REST API with the operator token (entered in the page, kept in the tab).
// The files need no token (they hold no data) and fetch nothing from elsewhere.
#pragma once

#include "cloudlet/api/router.h"

namespace cloudlet::api {

void AddDashboardRoutes(Router& router);

}  // namespace cloudlet::api
