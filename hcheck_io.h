/* hcheck_io.h: the transport of one health check: the connected socket as
 * it is, or TLS on it through mod_ssl, as mod_proxy does for https://
 * members (the SSLProxy* settings that apply to the member, SNI). */
#ifndef LBX_HCHECK_IO_H
#define LBX_HCHECK_IO_H

#include "lbx_proxy.h"

struct lbx_hc_io {
    apr_socket_t *sock;
    conn_rec *c; /* with TLS: the connection mod_ssl's filters run on */
    apr_bucket_brigade *bb;
};

/* Put TLS on io->sock (connected): a connection of server s bound to the
 * member's <Proxy> section (or s's defaults), SNI `sni`.  The handshake
 * happens with the first send.  An error when mod_ssl does not enable it
 * (not loaded, SSLProxyEngine off). */
apr_status_t lbx_hc_io_tls(struct lbx_hc_io *io, apr_pool_t *p, server_rec *s,
                           proxy_worker *w, const char *sni);

/* All of buf, or an error (with TLS, a failed handshake too). */
apr_status_t lbx_hc_io_send(struct lbx_hc_io *io, const char *buf,
                            apr_size_t len);

/* Up to *len bytes into buf, as apr_socket_recv: the bytes read in *len,
 * APR_EOF at the end, an error (APR_TIMEUP after the socket's timeout). */
apr_status_t lbx_hc_io_recv(struct lbx_hc_io *io, char *buf, apr_size_t *len);

#endif
