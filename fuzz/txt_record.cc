// The mDNS TXT record decoder, on what a LAN host could send: the input is a TXT record's RDATA,
// strings each prefixed by its length byte, as on the wire.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cloudlet/discovery/txt_record.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> strings;
  for (size_t i = 0; i < size;) {
    const size_t n = data[i++];
    const size_t take = n < size - i ? n : size - i;
    strings.emplace_back(reinterpret_cast<const char*>(data) + i, take);
    i += take;
  }
  auto advert = cloudlet::discovery::DecodeTxt(strings);
  (void)cloudlet::discovery::TxtSigningInput(strings);
  (void)advert;
  return 0;
}
