// Rampart's one C shim: non-variadic wrappers for libcurl's variadic calls and
// OpenSSL's function-like macros, which Swift cannot import. Nothing else.
#ifndef RAMPART_CSHIMS_H
#define RAMPART_CSHIMS_H
#include <curl/curl.h>
#include <openssl/ssl.h>
#include <openssl/bio.h>

// libcurl
CURLcode rampart_curl_setopt_long(CURL *h, CURLoption opt, long v);
CURLcode rampart_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v);
CURLcode rampart_curl_setopt_write(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode rampart_curl_setopt_read(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode rampart_curl_setopt_header(CURL *h, size_t (*fn)(char *, size_t, size_t, void *));
CURLcode rampart_curl_getinfo_long(CURL *h, CURLINFO info, long *out);
CURLMcode rampart_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long v);

// OpenSSL macros
long rampart_ssl_ctx_set_options(SSL_CTX *ctx, unsigned long long opts);
int rampart_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version);
long rampart_ssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *));
long rampart_ssl_ctx_set_servername_arg(SSL_CTX *ctx, void *arg);
long rampart_ssl_set_tlsext_host_name(SSL *ssl, const char *name);
long rampart_bio_get_mem_data(BIO *bio, char **out);
long rampart_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode);

// SSL_OP_* values (SSL_OP_BIT(n) is not importable).
extern const unsigned long long rampart_SSL_OP_NO_COMPRESSION;
extern const unsigned long long rampart_SSL_OP_NO_RENEGOTIATION;
extern const unsigned long long rampart_SSL_OP_CIPHER_SERVER_PREFERENCE;
extern const unsigned long long rampart_SSL_OP_NO_TLSv1;
extern const unsigned long long rampart_SSL_OP_NO_TLSv1_1;
#endif
