#include "avahi_common.h"

namespace cloudlet::discovery::avahi_internal {

StringList ToStringList(const std::vector<std::string>& wire_order) {
  AvahiStringList* list = nullptr;
  // avahi_string_list_add prepends and the list is serialised from its tail, so adding in wire
  // order gives wire order on the network (checked on captured packets). Received lists come
  // from the client library head first, in wire order.
  for (const auto& s : wire_order) {
    list = avahi_string_list_add_arbitrary(list, reinterpret_cast<const uint8_t*>(s.data()), s.size());
  }
  return StringList(list);
}

std::vector<std::string> FromStringList(const AvahiStringList* list) {
  std::vector<std::string> out;
  for (const AvahiStringList* l = list; l != nullptr; l = avahi_string_list_get_next(const_cast<AvahiStringList*>(l))) {
    out.emplace_back(reinterpret_cast<const char*>(avahi_string_list_get_text(const_cast<AvahiStringList*>(l))),
                     avahi_string_list_get_size(const_cast<AvahiStringList*>(l)));
  }
  return out;
}

}  // namespace cloudlet::discovery::avahi_internal
