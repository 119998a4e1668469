#include "cloudlet/auth/ed25519.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdio>

#include "cloudlet/auth/token.h"
#include "cloudlet/common/files.h"

namespace cloudlet::auth {
namespace {

using common::Result;
using common::Status;

struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
};
struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

class Ed25519Key final : public SigningKey {
 public:
  Ed25519Key(Key key, std::string public_key) : key_(std::move(key)), public_key_(std::move(public_key)) {}
  const std::string& public_key() const override { return public_key_; }
  std::string Sign(std::string_view message) const override {
    std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
    unsigned char sig[64];
    size_t len = sizeof sig;
    if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1 ||
        EVP_DigestSign(ctx.get(), sig, &len, reinterpret_cast<const unsigned char*>(message.data()), message.size()) != 1) {
      return {};
    }
    return Base64Url(sig, len);
  }

 private:
  Key key_;
  std::string public_key_;
};

Result<std::string> PublicKeyOf(EVP_PKEY* key) {
  unsigned char raw[32];
  size_t len = sizeof raw;
  if (EVP_PKEY_get_raw_public_key(key, raw, &len) != 1 || len != 32) return Status::Internal("ed25519: no public key");
  return Base64Url(raw, len);
}

}  // namespace

Result<std::unique_ptr<SigningKey>> LoadOrCreateSigningKey(const std::string& path) {
  auto pem = common::ReadSmallFile(path, 16 << 10);
  Key key;
  if (pem.ok()) {
    std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
    key.reset(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    if (!key || EVP_PKEY_id(key.get()) != EVP_PKEY_ED25519) {
      return Status::InvalidArgument(path + ": not an Ed25519 private key in PEM; remove it to make a new one");
    }
  } else if (pem.status().code() == common::StatusCode::kNotFound) {
    EVP_PKEY* made = nullptr;
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                    &EVP_PKEY_CTX_free);
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &made) != 1) {
      return Status::Internal("ed25519: cannot make a key");
    }
    key.reset(made);
    std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
      return Status::Internal("ed25519: cannot encode the key");
    }
    char* data = nullptr;
    const long size = BIO_get_mem_data(bio.get(), &data);
    CLOUDLET_RETURN_IF_ERROR(common::WriteFileAtomically(path, std::string(data, static_cast<size_t>(size)), 0600));
  } else {
    return pem.status();
  }
  auto pk = PublicKeyOf(key.get());
  if (!pk.ok()) return pk.status();
  return std::unique_ptr<SigningKey>(new Ed25519Key(std::move(key), *pk));
}

bool IsEd25519PublicKey(std::string_view public_key) {
  auto raw = FromBase64Url(public_key);
  return public_key.size() == 43 && raw.ok() && raw->size() == 32;
}

bool VerifyEd25519(std::string_view public_key, std::string_view message, std::string_view signature) {
  auto raw_key = FromBase64Url(public_key);
  auto raw_sig = FromBase64Url(signature);
  if (!raw_key.ok() || raw_key->size() != 32 || !raw_sig.ok() || raw_sig->size() != 64) return false;
  Key key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr,
                                      reinterpret_cast<const unsigned char*>(raw_key->data()), raw_key->size()));
  std::unique_ptr<EVP_MD_CTX, CtxFree> ctx(EVP_MD_CTX_new());
  if (!key || !ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) return false;
  return EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(raw_sig->data()), raw_sig->size(),
                          reinterpret_cast<const unsigned char*>(message.data()), message.size()) == 1;
}

}  // namespace cloudlet::auth
