#include "CShims.h"

CURLcode rampart_curl_setopt_long(CURL *h, CURLoption opt, long v) { return curl_easy_setopt(h, opt, v); }
CURLcode rampart_curl_setopt_ptr(CURL *h, CURLoption opt, const void *v) { return curl_easy_setopt(h, opt, v); }
CURLcode rampart_curl_setopt_write(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, fn); }
CURLcode rampart_curl_setopt_read(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, CURLOPT_READFUNCTION, fn); }
CURLcode rampart_curl_setopt_header(CURL *h, size_t (*fn)(char *, size_t, size_t, void *)) { return curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, fn); }
CURLcode rampart_curl_getinfo_long(CURL *h, CURLINFO info, long *out) { return curl_easy_getinfo(h, info, out); }
CURLMcode rampart_curl_multi_setopt_long(CURLM *m, CURLMoption opt, long v) { return curl_multi_setopt(m, opt, v); }

long rampart_ssl_ctx_set_options(SSL_CTX *ctx, unsigned long long opts) { return (long)SSL_CTX_set_options(ctx, opts); }
int rampart_ssl_ctx_set_min_proto_version(SSL_CTX *ctx, int version) { return (int)SSL_CTX_set_min_proto_version(ctx, version); }
long rampart_ssl_ctx_set_servername_callback(SSL_CTX *ctx, int (*cb)(SSL *, int *, void *)) { return SSL_CTX_set_tlsext_servername_callback(ctx, cb); }
long rampart_ssl_ctx_set_servername_arg(SSL_CTX *ctx, void *arg) { return SSL_CTX_set_tlsext_servername_arg(ctx, arg); }
long rampart_ssl_set_tlsext_host_name(SSL *ssl, const char *name) { return SSL_set_tlsext_host_name(ssl, name); }
long rampart_bio_get_mem_data(BIO *bio, char **out) { return BIO_get_mem_data(bio, out); }
long rampart_ssl_ctx_set_session_cache_mode(SSL_CTX *ctx, long mode) { return SSL_CTX_set_session_cache_mode(ctx, mode); }

const unsigned long long rampart_SSL_OP_NO_COMPRESSION = SSL_OP_NO_COMPRESSION;
const unsigned long long rampart_SSL_OP_NO_RENEGOTIATION = SSL_OP_NO_RENEGOTIATION;
const unsigned long long rampart_SSL_OP_CIPHER_SERVER_PREFERENCE = SSL_OP_CIPHER_SERVER_PREFERENCE;
const unsigned long long rampart_SSL_OP_NO_TLSv1 = SSL_OP_NO_TLSv1;
const unsigned long long rampart_SSL_OP_NO_TLSv1_1 = SSL_OP_NO_TLSv1_1;
